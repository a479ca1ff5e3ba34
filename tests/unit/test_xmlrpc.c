/* Unit tests for xmlrpc.c: building calls, parsing canned responses (shaped like supervisord's),
 * faults, malformed bodies; and one call through a one-shot HTTP server on loopback. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ferry/xmlrpc.h"
#include "ferry_test.h"

static ferry_rc parse(const char *body, ferry_xmlrpc_value **v, ferry_xmlrpc_fault *fault,
                      ferry_err *err)
{
    ferry_err_clear(err);
    return ferry_xmlrpc_response_parse(body, strlen(body), v, fault, err);
}

/* ---------------------------------------------------------------- building */

static void builds_escaped_calls(void)
{
    const ferry_xmlrpc_param params[] = {
        FERRY_XMLRPC_P_STR("a<b & c>d\r\n\t\xc3\xa9"),
        FERRY_XMLRPC_P_INT(-42),
        FERRY_XMLRPC_P_INT(5000000000),
        FERRY_XMLRPC_P_BOOL(true),
        FERRY_XMLRPC_P_BOOL(false),
    };
    char *xml = NULL;
    size_t len = 0;
    ferry_err err;
    ferry_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(
        ferry_xmlrpc_request_build("supervisor.startProcess", params, 5, &xml, &len, &err),
        FERRY_OK);
    CU_ASSERT_EQUAL(strlen(xml), len);
    CU_ASSERT_STRING_EQUAL(xml, "<?xml version=\"1.0\"?>\n<methodCall>"
                                "<methodName>supervisor.startProcess</methodName><params>"
                                "<param><value><string>a&lt;b &amp; c&gt;d&#13;\n\t\xc3\xa9"
                                "</string></value></param>"
                                "<param><value><int>-42</int></value></param>"
                                "<param><value><i8>5000000000</i8></value></param>"
                                "<param><value><boolean>1</boolean></value></param>"
                                "<param><value><boolean>0</boolean></value></param>"
                                "</params></methodCall>\n");
    free(xml);

    CU_ASSERT_EQUAL_FATAL(
        ferry_xmlrpc_request_build("supervisor.getState", NULL, 0, &xml, &len, &err), FERRY_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(xml, "<params></params>"));
    free(xml);

    /* What XML cannot carry is refused, not sent. */
    const ferry_xmlrpc_param ctl[] = {FERRY_XMLRPC_P_STR("bell\a")};
    const ferry_xmlrpc_param utf[] = {FERRY_XMLRPC_P_STR("\xff\xfe")};
    const ferry_xmlrpc_param null[] = {FERRY_XMLRPC_P_STR(NULL)};
    const ferry_xmlrpc_param dbl[] = {{.type = FERRY_XMLRPC_DOUBLE}};
    CU_ASSERT_EQUAL(ferry_xmlrpc_request_build("m", ctl, 1, &xml, &len, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(xml);
    CU_ASSERT_EQUAL(ferry_xmlrpc_request_build("m", utf, 1, &xml, &len, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_xmlrpc_request_build("m", null, 1, &xml, &len, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_xmlrpc_request_build("m", dbl, 1, &xml, &len, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_xmlrpc_request_build("a b", NULL, 0, &xml, &len, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_xmlrpc_request_build("<x>", NULL, 0, &xml, &len, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_xmlrpc_request_build(NULL, NULL, 0, &xml, &len, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(xml);
}

/* ---------------------------------------------------------------- parsing */

/* supervisor.getProcessInfo as supervisord 4.2.5 (Python's xmlrpc.client) writes it. */
static const char PROCESS_INFO[] =
    "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><struct>\n"
    "<member>\n<name>name</name>\n<value><string>ferry-probe</string></value>\n</member>\n"
    "<member>\n<name>group</name>\n<value><string>ferry-probe</string></value>\n</member>\n"
    "<member>\n<name>start</name>\n<value><int>1700000000</int></value>\n</member>\n"
    "<member>\n<name>state</name>\n<value><int>20</int></value>\n</member>\n"
    "<member>\n<name>statename</name>\n<value><string>RUNNING</string></value>\n</member>\n"
    "<member>\n<name>spawnerr</name>\n<value><string></string></value>\n</member>\n"
    "<member>\n<name>pid</name>\n<value><int>4242</int></value>\n</member>\n"
    "<member>\n<name>description</name>\n<value><string>pid 4242, uptime 0:00:01 &amp; "
    "&lt;ok&gt;</string></value>\n</member>\n"
    "</struct></value>\n</param>\n</params>\n</methodResponse>\n";

static void parses_a_struct(void)
{
    ferry_xmlrpc_value *v = NULL;
    ferry_xmlrpc_fault fault;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(parse(PROCESS_INFO, &v, &fault, &err), FERRY_OK);
    CU_ASSERT_EQUAL(fault.code, 0);
    CU_ASSERT_EQUAL(ferry_xmlrpc_type_of(v), FERRY_XMLRPC_STRUCT);
    CU_ASSERT_EQUAL(ferry_xmlrpc_len(v), 8);
    CU_ASSERT_STRING_EQUAL(ferry_xmlrpc_key_at(v, 0), "name");
    CU_ASSERT_STRING_EQUAL(ferry_xmlrpc_string(ferry_xmlrpc_at(v, 0)), "ferry-probe");
    CU_ASSERT_STRING_EQUAL(ferry_xmlrpc_string(ferry_xmlrpc_member(v, "statename")), "RUNNING");
    CU_ASSERT_STRING_EQUAL(ferry_xmlrpc_string(ferry_xmlrpc_member(v, "spawnerr")), "");
    CU_ASSERT_STRING_EQUAL(ferry_xmlrpc_string(ferry_xmlrpc_member(v, "description")),
                           "pid 4242, uptime 0:00:01 & <ok>");
    int64_t pid = 0, state = 0;
    CU_ASSERT_TRUE(ferry_xmlrpc_int(ferry_xmlrpc_member(v, "pid"), &pid));
    CU_ASSERT_EQUAL(pid, 4242);
    CU_ASSERT_TRUE(ferry_xmlrpc_int(ferry_xmlrpc_member(v, "state"), &state));
    CU_ASSERT_EQUAL(state, 20);
    double d = 0;
    CU_ASSERT_TRUE(ferry_xmlrpc_double(ferry_xmlrpc_member(v, "pid"), &d));
    CU_ASSERT_TRUE(d > 4241.5 && d < 4242.5);

    /* Missing members and wrong types read as absent, and chain safely. */
    bool b = false;
    CU_ASSERT_PTR_NULL(ferry_xmlrpc_member(v, "nope"));
    CU_ASSERT_PTR_NULL(ferry_xmlrpc_string(ferry_xmlrpc_member(v, "pid")));
    CU_ASSERT_FALSE(ferry_xmlrpc_int(ferry_xmlrpc_member(v, "statename"), &pid));
    CU_ASSERT_FALSE(ferry_xmlrpc_bool(ferry_xmlrpc_member(v, "nope"), &b));
    CU_ASSERT_PTR_NULL(ferry_xmlrpc_at(v, 8));
    CU_ASSERT_PTR_NULL(ferry_xmlrpc_key_at(v, 8));
    CU_ASSERT_PTR_NULL(ferry_xmlrpc_member(ferry_xmlrpc_member(v, "nope"), "x"));
    CU_ASSERT_EQUAL(ferry_xmlrpc_type_of(NULL), FERRY_XMLRPC_NIL);
    CU_ASSERT_EQUAL(ferry_xmlrpc_len(ferry_xmlrpc_member(v, "name")), 0);
    ferry_xmlrpc_value_free(v);
    ferry_xmlrpc_value_free(NULL);
}

static void parses_arrays_and_scalars(void)
{
    static const char body[] =
        "<?xml version=\"1.0\"?><methodResponse><params><param><value><array><data>"
        "<value><i4>7</i4></value>"
        "<value><i8>-9000000000</i8></value>"
        "<value>  untyped text  </value>"
        "<value><double>2.5</double></value>"
        "<value><boolean>1</boolean></value>"
        "<value><boolean> 0 </boolean></value>"
        "<value><nil/></value>"
        "<value><ex:nil xmlns:ex=\"http://ws.apache.org/xmlrpc/namespaces/extensions\"/></value>"
        "<value><array><data></data></array></value>"
        "<value><array><data><value><struct>"
        "<member><name>k</name><value><string>deep</string></value></member>"
        "</struct></value></data></array></value>"
        "<value><dateTime.iso8601>20240101T10:00:00</dateTime.iso8601></value>"
        "<!-- a comment is fine -->"
        "</data></array></value></param></params></methodResponse>";
    ferry_xmlrpc_value *v = NULL;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(parse(body, &v, NULL, &err), FERRY_OK);
    CU_ASSERT_EQUAL(ferry_xmlrpc_type_of(v), FERRY_XMLRPC_ARRAY);
    CU_ASSERT_EQUAL_FATAL(ferry_xmlrpc_len(v), 11);
    int64_t i = 0;
    CU_ASSERT_TRUE(ferry_xmlrpc_int(ferry_xmlrpc_at(v, 0), &i));
    CU_ASSERT_EQUAL(i, 7);
    CU_ASSERT_TRUE(ferry_xmlrpc_int(ferry_xmlrpc_at(v, 1), &i));
    CU_ASSERT_EQUAL(i, -9000000000);
    CU_ASSERT_STRING_EQUAL(ferry_xmlrpc_string(ferry_xmlrpc_at(v, 2)), "  untyped text  ");
    double d = 0;
    CU_ASSERT_TRUE(ferry_xmlrpc_double(ferry_xmlrpc_at(v, 3), &d));
    CU_ASSERT_TRUE(d > 2.49 && d < 2.51);
    CU_ASSERT_FALSE(ferry_xmlrpc_int(ferry_xmlrpc_at(v, 3), &i));
    bool b = false;
    CU_ASSERT_TRUE(ferry_xmlrpc_bool(ferry_xmlrpc_at(v, 4), &b));
    CU_ASSERT_TRUE(b);
    CU_ASSERT_TRUE(ferry_xmlrpc_bool(ferry_xmlrpc_at(v, 5), &b));
    CU_ASSERT_FALSE(b);
    CU_ASSERT_EQUAL(ferry_xmlrpc_type_of(ferry_xmlrpc_at(v, 6)), FERRY_XMLRPC_NIL);
    CU_ASSERT_PTR_NOT_NULL(ferry_xmlrpc_at(v, 6));
    CU_ASSERT_EQUAL(ferry_xmlrpc_type_of(ferry_xmlrpc_at(v, 7)), FERRY_XMLRPC_NIL);
    CU_ASSERT_EQUAL(ferry_xmlrpc_type_of(ferry_xmlrpc_at(v, 8)), FERRY_XMLRPC_ARRAY);
    CU_ASSERT_EQUAL(ferry_xmlrpc_len(ferry_xmlrpc_at(v, 8)), 0);
    CU_ASSERT_STRING_EQUAL(
        ferry_xmlrpc_string(ferry_xmlrpc_member(ferry_xmlrpc_at(ferry_xmlrpc_at(v, 9), 0), "k")),
        "deep");
    CU_ASSERT_STRING_EQUAL(ferry_xmlrpc_string(ferry_xmlrpc_at(v, 10)), "20240101T10:00:00");
    ferry_xmlrpc_value_free(v);
}

static void a_fault_carries_its_code(void)
{
    static const char body[] =
        "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n"
        "<member>\n<name>faultCode</name>\n<value><int>10</int></value>\n</member>\n"
        "<member>\n<name>faultString</name>\n<value><string>BAD_NAME: nosuch</string></value>\n"
        "</member>\n</struct></value>\n</fault>\n</methodResponse>\n";
    ferry_xmlrpc_value *v = NULL;
    ferry_xmlrpc_fault fault;
    ferry_err err;
    CU_ASSERT_EQUAL(parse(body, &v, &fault, &err), FERRY_ERR_PROTOCOL);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(fault.code, 10);
    CU_ASSERT_STRING_EQUAL(fault.string, "BAD_NAME: nosuch");
    CU_ASSERT_EQUAL(err.code, FERRY_ERR_PROTOCOL);
    CU_ASSERT_STRING_EQUAL(err.msg, "fault 10: BAD_NAME: nosuch");
    /* Without a fault struct the code is still in the message. */
    CU_ASSERT_EQUAL(parse(body, &v, NULL, &err), FERRY_ERR_PROTOCOL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "fault 10"));

    /* A fault without its members is a broken response, not a fault. */
    static const char broken[] = "<methodResponse><fault><value><struct>"
                                 "<member><name>faultCode</name><value><int>10</int></value>"
                                 "</member></struct></value></fault></methodResponse>";
    CU_ASSERT_EQUAL(parse(broken, &v, &fault, &err), FERRY_ERR_DECODE);
    CU_ASSERT_EQUAL(fault.code, 0);
}

static void malformed_bodies_are_decode_errors(void)
{
    static const char *const bodies[] = {
        "<methodResponse><params><param><value><string>x</string></value>", /* unclosed */
        "Internal Server Error",
        "<html><body>login</body></html>",
        "<methodResponse></methodResponse>",
        "<methodResponse><params></params></methodResponse>",
        "<methodResponse><params><param><value>1</value></param><param><value>2</value></param>"
        "</params></methodResponse>",
        "<methodResponse><params><param><value><int>12abc</int></value></param></params>"
        "</methodResponse>",
        "<methodResponse><params><param><value><int></int></value></param></params>"
        "</methodResponse>",
        "<methodResponse><params><param><value><int>99999999999999999999</int></value></param>"
        "</params></methodResponse>",
        "<methodResponse><params><param><value><boolean>2</boolean></value></param></params>"
        "</methodResponse>",
        "<methodResponse><params><param><value><double>x</double></value></param></params>"
        "</methodResponse>",
        "<methodResponse><params><param><value><blob>x</blob></value></param></params>"
        "</methodResponse>",
        "<methodResponse><params><param><value><string>a</string><int>1</int></value></param>"
        "</params></methodResponse>",
        "<methodResponse><params><param><value><array><value>1</value></array></value></param>"
        "</params></methodResponse>",
        "<methodResponse><params><param><value><struct><member><value>1</value></member>"
        "</struct></value></param></params></methodResponse>",
        "<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY a \"aaaaaaaa\">]>"
        "<methodResponse><params><param><value><string>&a;</string></value></param></params>"
        "</methodResponse>",
        "<methodResponse><params><param><value><string>x</string></value></param></params>"
        "</methodResponse><trailing/>",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        ferry_xmlrpc_value *v = NULL;
        ferry_err err;
        ferry_rc rc = parse(bodies[i], &v, NULL, &err);
        if (rc != FERRY_ERR_DECODE)
            fprintf(stderr, "body %zu: got %s (%s)\n", i, ferry_rc_str(rc), err.msg);
        CU_ASSERT_EQUAL(rc, FERRY_ERR_DECODE);
        CU_ASSERT_PTR_NULL(v);
        CU_ASSERT_NOT_EQUAL(err.msg[0], '\0');
    }
    ferry_xmlrpc_value *v = NULL;
    ferry_err err;
    CU_ASSERT_EQUAL(ferry_xmlrpc_response_parse("", 0, &v, NULL, &err), FERRY_ERR_DECODE);
    CU_ASSERT_EQUAL(ferry_xmlrpc_response_parse(NULL, 0, &v, NULL, &err), FERRY_ERR_DECODE);
}

static void deep_nesting_is_refused(void)
{
    /* 40 arrays inside each other: more than the parser accepts. */
    char body[4096];
    size_t o = 0;
    o += (size_t)snprintf(body + o, sizeof(body) - o, "<methodResponse><params><param>");
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(body + o, sizeof(body) - o, "<value><array><data>");
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(body + o, sizeof(body) - o, "</data></array></value>");
    o += (size_t)snprintf(body + o, sizeof(body) - o, "</param></params></methodResponse>");
    CU_ASSERT_TRUE_FATAL(o < sizeof(body));
    ferry_xmlrpc_value *v = NULL;
    ferry_err err;
    CU_ASSERT_EQUAL(parse(body, &v, NULL, &err), FERRY_ERR_DECODE);
    CU_ASSERT_PTR_NULL(v);
}

/* ---------------------------------------------------------------- one call over HTTP */

/* strcasestr() without _GNU_SOURCE. */
static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p != '\0'; p++) {
        if (strncasecmp(p, needle, n) == 0)
            return p;
    }
    return NULL;
}

/* Accepts one connection, keeps the request, sends the canned response. */
typedef struct one_shot {
    int fd;
    const char *status_line;
    const char *body;
    char request[8192];
} one_shot;

static void *one_shot_run(void *ud)
{
    one_shot *os = ud;
    int c = accept(os->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    size_t got = 0;
    /* Headers, then Content-Length bytes of body. */
    for (;;) {
        ssize_t n = recv(c, os->request + got, sizeof(os->request) - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        os->request[got] = '\0';
        const char *end = strstr(os->request, "\r\n\r\n");
        const char *cl = find_ci(os->request, "Content-Length:");
        if (end != NULL && cl != NULL &&
            got >= (size_t)(end + 4 - os->request) + strtoul(cl + 15, NULL, 10))
            break;
    }
    char head[256];
    int hn = snprintf(head, sizeof(head),
                      "%s\r\nContent-Type: text/xml\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      os->status_line, strlen(os->body));
    (void)send(c, head, (size_t)hn, MSG_NOSIGNAL);
    (void)send(c, os->body, strlen(os->body), MSG_NOSIGNAL);
    close(c);
    return NULL;
}

static ferry_rc call_one_shot(one_shot *os, const char *password, ferry_xmlrpc_value **v,
                              ferry_xmlrpc_fault *fault, ferry_err *err)
{
    os->fd = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT_TRUE_FATAL(os->fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    CU_ASSERT_EQUAL_FATAL(bind(os->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    CU_ASSERT_EQUAL_FATAL(getsockname(os->fd, (struct sockaddr *)&sin, &len), 0);
    CU_ASSERT_EQUAL_FATAL(listen(os->fd, 1), 0);
    char url[64];
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/RPC2", (unsigned)ntohs(sin.sin_port));

    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, one_shot_run, os), 0);
    ferry_xmlrpc_opts opts = {
        .url = url, .user = "admin", .password = password, .timeout_ms = 5000};
    ferry_xmlrpc *x = ferry_xmlrpc_new(&opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    const ferry_xmlrpc_param params[] = {FERRY_XMLRPC_P_STR("ferry-probe")};
    ferry_err_clear(err);
    ferry_rc rc = ferry_xmlrpc_call(x, "supervisor.getProcessInfo", params, 1, v, fault, err);
    ferry_xmlrpc_free(x);
    pthread_join(th, NULL);
    close(os->fd);
    return rc;
}

static void calls_over_http(void)
{
    static one_shot os; /* large: keep it off the stack */
    ferry_xmlrpc_value *v = NULL;
    ferry_xmlrpc_fault fault;
    ferry_err err;

    memset(&os, 0, sizeof(os));
    os.status_line = "HTTP/1.1 200 OK";
    os.body = PROCESS_INFO;
    CU_ASSERT_EQUAL_FATAL(call_one_shot(&os, "s3cret-pw", &v, &fault, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(ferry_xmlrpc_string(ferry_xmlrpc_member(v, "statename")), "RUNNING");
    ferry_xmlrpc_value_free(v);
    /* What went out: a POST of text/xml with Basic auth ("admin:s3cret-pw") and the call. */
    CU_ASSERT_EQUAL(strncmp(os.request, "POST /RPC2 HTTP/1.1\r\n", 21), 0);
    CU_ASSERT_PTR_NOT_NULL(find_ci(os.request, "\r\nContent-Type: text/xml\r\n"));
    CU_ASSERT_PTR_NOT_NULL(
        find_ci(os.request, "\r\nAuthorization: Basic YWRtaW46czNjcmV0LXB3\r\n"));
    CU_ASSERT_PTR_NULL(find_ci(os.request, "\r\nExpect:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(os.request,
                                  "<methodName>supervisor.getProcessInfo</methodName>"
                                  "<params><param><value><string>ferry-probe</string>"));

    memset(&os, 0, sizeof(os));
    os.status_line = "HTTP/1.1 401 Unauthorized";
    os.body = "Unauthorized";
    CU_ASSERT_EQUAL(call_one_shot(&os, "wrong-pw-123", &v, &fault, &err), FERRY_ERR_AUTH);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(fault.code, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "401"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "wrong-pw-123"));

    memset(&os, 0, sizeof(os));
    os.status_line = "HTTP/1.1 500 Internal Server Error";
    os.body = "boom";
    CU_ASSERT_EQUAL(call_one_shot(&os, "pw", &v, &fault, &err), FERRY_ERR_SERVER);

    memset(&os, 0, sizeof(os));
    os.status_line = "HTTP/1.1 200 OK";
    os.body = "<methodResponse><fault><value><struct>"
              "<member><name>faultCode</name><value><int>70</int></value></member>"
              "<member><name>faultString</name><value><string>NOT_RUNNING: ferry-probe</string>"
              "</value></member></struct></value></fault></methodResponse>";
    CU_ASSERT_EQUAL(call_one_shot(&os, "pw", &v, &fault, &err), FERRY_ERR_PROTOCOL);
    CU_ASSERT_EQUAL(fault.code, 70);
    CU_ASSERT_STRING_EQUAL(fault.string, "NOT_RUNNING: ferry-probe");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "supervisor.getProcessInfo"));
}

static void new_needs_a_url(void)
{
    ferry_xmlrpc_opts opts = {.url = NULL};
    CU_ASSERT_PTR_NULL(ferry_xmlrpc_new(&opts));
    CU_ASSERT_PTR_NULL(ferry_xmlrpc_new(NULL));
    ferry_xmlrpc_free(NULL);
}

int main(void)
{
    static const ferry_test_case cases[] = {
        {"builds escaped calls", builds_escaped_calls},
        {"parses a struct", parses_a_struct},
        {"parses arrays and scalars", parses_arrays_and_scalars},
        {"a fault carries its code", a_fault_carries_its_code},
        {"malformed bodies are decode errors", malformed_bodies_are_decode_errors},
        {"deep nesting is refused", deep_nesting_is_refused},
        {"calls over HTTP", calls_over_http},
        {"new needs a URL", new_needs_a_url},
        {NULL, NULL},
    };
    static const ferry_test_suite suites[] = {{"xmlrpc", NULL, NULL, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
