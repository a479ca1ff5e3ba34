/* fuzz_api.c - a request to the coordinator's API, handled in-process without a socket: the
 * routing, who may ask for it, the count and the body (a spec, a command's arguments, a login,
 * a new user) as api_parse() reads them before anything runs.
 *
 * The input is "<method byte><url>\n<app>\n<count>\n<body>": the first byte picks the
 * method, the next lines the URL, the app parameter (absent when the line is empty) and the
 * count parameter (absent when empty); the rest is the body. (The app line was once the
 * Authorization header; api.c now authenticates before parsing, so the seeds still fit.) */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next line of [*p, end) as an owned string; *p moves past it. */
static char *line(const char **p, const char *end)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = (size_t)((nl != NULL ? nl : end) - *p);
    char *s = strndup(*p, n);
    *p = nl != NULL ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "DELETE", "PUT", "PATCH", ""};
    if (size < 1)
        return 0;
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    char *url = line(&p, end), *app = line(&p, end), *count = line(&p, end);
    if (url != NULL && app != NULL && count != NULL) {
        size_t len = (size_t)(end - p);
        api_request rq = {.method = methods[data[0] % 6],
                          .url = url,
                          .app = app[0] != '\0' ? app : NULL,
                          .count = count[0] != '\0' ? count : NULL,
                          .body = len > 0 ? p : NULL,
                          .len = len,
                          .too_large = len > API_BODY_MAX};
        api_parsed parsed;
        json_t *error = NULL;
        unsigned status = api_parse(&rq, &parsed, &error);
        if ((status == 0) != (error == NULL))
            abort(); /* an answer has its JSON, a request to run has none */
        if (status == 0 && api_need_of(rq.method, url) == API_NEED_NOTHING &&
            api_route_need(&parsed) != API_NEED_NOTHING)
            abort(); /* the gate before the body let through what needs a user */
        if (status == 0 && parsed.route == API_APP_CREATE && parsed.spec == NULL)
            abort();
        json_decref(error);
        api_parsed_cleanup(&parsed);
    }
    free(url);
    free(app);
    free(count);
    return 0;
}
