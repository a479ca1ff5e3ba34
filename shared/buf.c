/* buf.c - the growable byte buffer. */
#include "ferry/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ferry_buf_addn(ferry_buf *b, const void *data, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->p, cap);
        if (grown == NULL) {
            b->oom = true;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void ferry_buf_add(ferry_buf *b, const char *s)
{
    ferry_buf_addn(b, s, strlen(s));
}

void ferry_buf_addf(ferry_buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    char *text = malloc((size_t)n + 1);
    if (text == NULL) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(text, (size_t)n + 1, fmt, ap);
    va_end(ap);
    ferry_buf_addn(b, text, (size_t)n);
    free(text);
}

void ferry_buf_reset(ferry_buf *b)
{
    b->len = 0;
    if (b->p != NULL)
        b->p[0] = '\0';
}

char *ferry_buf_take(ferry_buf *b)
{
    char *out = NULL;
    if (b->oom)
        ferry_buf_cleanup(b);
    else if (b->p == NULL)
        out = strdup("");
    else
        out = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = false;
    return out;
}

void ferry_buf_cleanup(ferry_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}
