/*
 * buf.h - a growable, always NUL-terminated byte buffer for building text and collecting
 * bodies. Out of memory is sticky: appends after a failure do nothing, and the caller checks
 * `oom` once at the end instead of after every append.
 *
 * Start from `ferry_buf b = {0};`. The memory (b.p) belongs to the buffer: release it with
 * ferry_buf_cleanup(), or take it over with ferry_buf_take().
 */
#ifndef FERRY_BUF_H
#define FERRY_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ferry_buf {
    char *p;    /* NULL until the first append; then NUL-terminated */
    size_t len; /* bytes held, without the NUL */
    size_t cap;
    bool oom; /* an append failed; the contents are incomplete */
} ferry_buf;

/* Appends n bytes (may contain NULs); does nothing once out of memory. */
void ferry_buf_addn(ferry_buf *b, const void *data, size_t n);

/* Appends a string; does nothing once out of memory. */
void ferry_buf_add(ferry_buf *b, const char *s);

/* Appends printf-formatted text, however long; does nothing once out of memory. */
void ferry_buf_addf(ferry_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Drops the contents, keeps the memory. */
void ferry_buf_reset(ferry_buf *b);

/* Returns the contents ("" for an empty buffer; NULL when out of memory) for the caller to
 * free(), and leaves b empty. */
char *ferry_buf_take(ferry_buf *b);

/* Frees the memory and leaves b empty. */
void ferry_buf_cleanup(ferry_buf *b);

#endif
