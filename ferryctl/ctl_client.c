/* ctl_client.c - ferryctl's requests to the coordinator's API (ctl_client.h). */
#include "ctl_client.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/buf.h"
#include "ferry/http.h"

/* A whole request may take this long (creating an app writes every migration). */
#define REQUEST_TIMEOUT_MS 30000L
#define CONNECT_TIMEOUT_MS 5000L

struct ctl_client {
    ferry_http *http;
    char *url;  /* without trailing '/' */
    char *auth; /* "Authorization: Bearer <token>", or NULL; wiped on free */
    const volatile sig_atomic_t *stop;
};

ctl_client *ctl_client_new(const char *url, const char *token, ferry_err *err)
{
    ctl_client *client = calloc(1, sizeof(*client));
    if (client == NULL)
        goto oom;
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        len--;
    client->url = strndup(url, len);
    if (client->url == NULL)
        goto oom;
    if (token != NULL && token[0] != '\0') {
        /* Sized exactly, so no copy of the token is left behind by a growing buffer. */
        size_t size = sizeof("Authorization: Bearer ") + strlen(token);
        client->auth = malloc(size);
        if (client->auth == NULL)
            goto oom;
        int n = snprintf(client->auth, size, "Authorization: Bearer %s", token);
        if (n < 0 || (size_t)n >= size)
            goto oom;
    }
    client->http = ferry_http_new();
    if (client->http == NULL)
        goto oom;
    return client;

oom:
    ctl_client_free(client);
    ferry_err_set(err, FERRY_ERR_NOMEM, "setting up the HTTP client");
    return NULL;
}

void ctl_client_free(ctl_client *client)
{
    if (client == NULL)
        return;
    ferry_http_free(client->http);
    if (client->auth != NULL)
        explicit_bzero(client->auth, strlen(client->auth));
    free(client->auth);
    free(client->url);
    free(client);
}

void ctl_client_set_stop(ctl_client *client, const volatile sig_atomic_t *stop)
{
    client->stop = stop;
}

static bool on_progress(uint64_t down_done, uint64_t up_done, void *ud)
{
    (void)down_done;
    (void)up_done;
    const ctl_client *client = ud;
    return client->stop == NULL || *client->stop == 0;
}

ferry_rc ctl_client_call(ctl_client *client, const char *method, const char *path, const char *body,
                         ctl_reply *reply, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    ferry_http_response resp = {0};
    ferry_buf url = {0};
    const char *headers[4] = {"Accept: application/json", NULL, NULL, NULL};
    size_t n = 1;

    reply->status = 0;
    reply->body = NULL;
    if (body == NULL && strcmp(method, "POST") == 0)
        body = "{}";
    if (body != NULL)
        headers[n++] = "Content-Type: application/json";
    if (client->auth != NULL)
        headers[n++] = client->auth;

    ferry_buf_add(&url, client->url);
    ferry_buf_add(&url, path);
    if (url.oom) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "building the request");
        goto out;
    }
    ferry_http_request req = {
        .method = method,
        .url = url.p,
        .headers = headers,
        .body = body,
        .body_len = body != NULL ? strlen(body) : 0,
        .progress_fn = client->stop != NULL ? on_progress : NULL,
        .progress_ud = client,
        .timeout_ms = REQUEST_TIMEOUT_MS,
        .connect_timeout_ms = CONNECT_TIMEOUT_MS,
    };
    rc = ferry_http_perform(client->http, &req, &resp, err);
    if (rc != FERRY_OK) {
        reply->status = 0;
        goto out;
    }
    reply->status = resp.status;
    if (resp.body != NULL && resp.body_len > 0) {
        json_error_t jerr;
        reply->body = json_loadb(resp.body, resp.body_len, 0, &jerr);
        if (reply->body == NULL && resp.status >= 200 && resp.status <= 299) {
            rc = ferry_err_set(err, FERRY_ERR_DECODE, "%s %s: the answer is not JSON (line %d: %s)",
                               method, path, jerr.line, jerr.text);
            goto out;
        }
    }
out:
    ferry_http_response_cleanup(&resp);
    ferry_buf_cleanup(&url);
    return rc;
}

ferry_rc ctl_client_call_json(ctl_client *client, const char *method, const char *path,
                              const json_t *body, ctl_reply *reply, ferry_err *err)
{
    char *text = NULL;
    reply->status = 0;
    reply->body = NULL;
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL)
            return ferry_err_set(err, FERRY_ERR_NOMEM, "encoding the request");
    }
    ferry_rc rc = ctl_client_call(client, method, path, text, reply, err);
    free(text);
    return rc;
}

void ctl_reply_cleanup(ctl_reply *reply)
{
    if (reply == NULL)
        return;
    json_decref(reply->body);
    reply->body = NULL;
    reply->status = 0;
}

const char *ctl_reply_message(const ctl_reply *reply)
{
    const json_t *error = json_object_get(reply->body, "error");
    const json_t *message = json_object_get(error, "message");
    if (json_is_string(message))
        return json_string_value(message);
    if (json_is_string(error))
        return json_string_value(error);
    return NULL;
}

const json_t *ctl_reply_problems(const ctl_reply *reply)
{
    const json_t *problems = json_object_get(json_object_get(reply->body, "error"), "problems");
    return json_is_array(problems) ? problems : NULL;
}

ferry_rc ctl_path(char *out, size_t outsz, const char *prefix, const char *segment,
                  const char *suffix, ferry_err *err)
{
    /* "." and ".." would be resolved away by the URL parser, reaching another endpoint. */
    if (strcmp(segment, ".") == 0 || strcmp(segment, "..") == 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "'%s' is not a name", segment);
    size_t plen = strlen(prefix);
    if (plen >= outsz)
        goto too_long;
    memcpy(out, prefix, plen);
    int n = ferry_http_uri_encode(segment, false, out + plen, outsz - plen);
    if (n < 0)
        goto too_long;
    if (suffix != NULL) {
        size_t at = plen + (size_t)n;
        size_t slen = strlen(suffix);
        if (at + slen >= outsz)
            goto too_long;
        memcpy(out + at, suffix, slen + 1);
    }
    return FERRY_OK;

too_long:
    return ferry_err_set(err, FERRY_ERR_INVALID, "name too long (%zu bytes)", strlen(segment));
}
