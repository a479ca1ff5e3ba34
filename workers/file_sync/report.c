/* report.c - a pass's or verify's report (see fs.h). */
#include <stdlib.h>
#include <string.h>

#include "fs.h"

void filesync_report_init(filesync_report *r)
{
    memset(r, 0, sizeof(*r));
    r->verified = -1;
}

void filesync_report_cleanup(filesync_report *r)
{
    if (r == NULL)
        return;
    free(r->differences);
    free(r->first_error);
    filesync_report_init(r);
}
