/* report.c - a pass's or verify's report (see fs.h). */
#include <stdlib.h>
#include <string.h>

#include "fs.h"

void fs_report_init(fs_report *r)
{
    memset(r, 0, sizeof(*r));
    r->verified = -1;
}

void fs_report_cleanup(fs_report *r)
{
    if (r == NULL)
        return;
    free(r->differences);
    free(r->first_error);
    fs_report_init(r);
}
