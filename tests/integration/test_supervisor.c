/*
 * Integration test against the local stack's supervisord (XML-RPC): its state, starting and
 * stopping the stack's `ferry-probe` program (autostart=false), and the fault codes Ferry's app
 * driver decides on. Needs FERRY_SUPERVISOR_URL, _USER and _PASSWORD (deploy/local/stack env).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/xmlrpc.h"
#include "ferry_test.h"

#define PROBE "ferry-probe"

/* supervisord's fault codes (supervisor/xmlrpc.py, class Faults) */
enum {
    SUP_UNKNOWN_METHOD = 1,
    SUP_BAD_NAME = 10,
    SUP_ALREADY_STARTED = 60,
    SUP_NOT_RUNNING = 70,
};

static struct {
    ferry_xmlrpc *rpc;
    const char *url, *user, *password;
    int64_t pid; /* the probe's pid while it runs */
} T;

/* Calls a method with one string (and optionally one boolean) parameter. */
static ferry_rc call(const char *method, const char *name, int wait, ferry_xmlrpc_value **v,
                     ferry_xmlrpc_fault *fault, ferry_err *err)
{
    ferry_xmlrpc_param params[2];
    size_t n = 0;
    if (name != NULL)
        params[n++] = FERRY_XMLRPC_P_STR(name);
    if (wait >= 0)
        params[n++] = FERRY_XMLRPC_P_BOOL(wait != 0);
    ferry_err_clear(err);
    return ferry_xmlrpc_call(T.rpc, method, params, n, v, fault, err);
}

/* Calls a method that must return boolean true. */
static void call_true(const char *method, const char *name, int wait)
{
    ferry_xmlrpc_value *v = NULL;
    ferry_xmlrpc_fault fault;
    ferry_err err;
    ferry_rc rc = call(method, name, wait, &v, &fault, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "%s: %s\n", method, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    bool b = false;
    CU_ASSERT_TRUE(ferry_xmlrpc_bool(v, &b));
    CU_ASSERT_TRUE(b);
    ferry_xmlrpc_value_free(v);
}

/* Reads the probe's statename and pid. */
static void probe_info(char *statename, size_t sz, int64_t *state, int64_t *pid)
{
    ferry_xmlrpc_value *v = NULL;
    ferry_err err;
    ferry_rc rc = call("supervisor.getProcessInfo", PROBE, -1, &v, NULL, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "getProcessInfo: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_EQUAL(ferry_xmlrpc_type_of(v), FERRY_XMLRPC_STRUCT);
    CU_ASSERT_STRING_EQUAL(ferry_xmlrpc_string(ferry_xmlrpc_member(v, "name")), PROBE);
    const char *sn = ferry_xmlrpc_string(ferry_xmlrpc_member(v, "statename"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sn);
    (void)snprintf(statename, sz, "%s", sn);
    CU_ASSERT_TRUE(ferry_xmlrpc_int(ferry_xmlrpc_member(v, "state"), state));
    CU_ASSERT_TRUE(ferry_xmlrpc_int(ferry_xmlrpc_member(v, "pid"), pid));
    ferry_xmlrpc_value_free(v);
}

static int suite_setup(void)
{
    const ferry_cfg *cfg = ferry_test_cfg();
    if (cfg == NULL)
        return 1;
    T.url = ferry_cfg_str(cfg, "supervisor.url");
    T.user = ferry_cfg_str(cfg, "supervisor.user");
    T.password = ferry_cfg_str(cfg, "supervisor.password");
    ferry_xmlrpc_opts opts = {
        .url = T.url, .user = T.user, .password = T.password, .timeout_ms = 30000};
    T.rpc = ferry_xmlrpc_new(&opts);
    return T.rpc == NULL;
}

static int suite_teardown(void)
{
    if (T.rpc != NULL) { /* leave the probe stopped, whatever happened */
        ferry_xmlrpc_value *v = NULL;
        ferry_err err;
        (void)call("supervisor.stopProcess", PROBE, 1, &v, NULL, &err);
        ferry_xmlrpc_value_free(v);
    }
    ferry_xmlrpc_free(T.rpc);
    return 0;
}

static void supervisord_is_running(void)
{
    ferry_xmlrpc_value *v = NULL;
    ferry_err err;
    ferry_rc rc = call("supervisor.getState", NULL, -1, &v, NULL, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "getState: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_STRING_EQUAL(ferry_xmlrpc_string(ferry_xmlrpc_member(v, "statename")), "RUNNING");
    int64_t code = -1;
    CU_ASSERT_TRUE(ferry_xmlrpc_int(ferry_xmlrpc_member(v, "statecode"), &code));
    CU_ASSERT_EQUAL(code, 1);
    ferry_xmlrpc_value_free(v);
}

static void probe_starts_and_runs(void)
{
    /* From a known state: stopped (NOT_RUNNING when it already was). */
    ferry_xmlrpc_value *v = NULL;
    ferry_xmlrpc_fault fault;
    ferry_err err;
    ferry_rc rc = call("supervisor.stopProcess", PROBE, 1, &v, &fault, &err);
    CU_ASSERT_TRUE(rc == FERRY_OK || (rc == FERRY_ERR_PROTOCOL && fault.code == SUP_NOT_RUNNING));
    ferry_xmlrpc_value_free(v);

    int64_t t0 = ferry_mono_ms();
    call_true("supervisor.startProcess", PROBE, 1);
    fprintf(stderr, "supervisor: startProcess(wait=true) took %lld ms (startsecs=1)\n",
            (long long)(ferry_mono_ms() - t0));

    char statename[32];
    int64_t state = -1;
    T.pid = 0;
    probe_info(statename, sizeof(statename), &state, &T.pid);
    CU_ASSERT_STRING_EQUAL(statename, "RUNNING");
    CU_ASSERT_EQUAL(state, 20);
    CU_ASSERT_TRUE_FATAL(T.pid > 0);
    CU_ASSERT_EQUAL(kill((pid_t)T.pid, 0), 0); /* a live process */

    /* Starting it again is ALREADY_STARTED, a fault the app driver treats as done. */
    rc = call("supervisor.startProcess", PROBE, 1, &v, &fault, &err);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_PROTOCOL);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(fault.code, SUP_ALREADY_STARTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(fault.string, "ALREADY_STARTED"));
}

static void probe_stops(void)
{
    CU_ASSERT_TRUE_FATAL(T.pid > 0);
    int64_t t0 = ferry_mono_ms();
    call_true("supervisor.stopProcess", PROBE, 1);
    fprintf(stderr, "supervisor: stopProcess(wait=true) took %lld ms\n",
            (long long)(ferry_mono_ms() - t0));

    char statename[32];
    int64_t state = -1, pid = -1;
    probe_info(statename, sizeof(statename), &state, &pid);
    CU_ASSERT_STRING_EQUAL(statename, "STOPPED");
    CU_ASSERT_EQUAL(state, 0);
    CU_ASSERT_EQUAL(pid, 0);
    /* The old pid is gone: supervisord has reaped it before answering. */
    errno = 0;
    CU_ASSERT_EQUAL(kill((pid_t)T.pid, 0), -1);
    CU_ASSERT_EQUAL(errno, ESRCH);

    /* Stopping it again is NOT_RUNNING. */
    ferry_xmlrpc_value *v = NULL;
    ferry_xmlrpc_fault fault;
    ferry_err err;
    CU_ASSERT_EQUAL(call("supervisor.stopProcess", PROBE, 1, &v, &fault, &err), FERRY_ERR_PROTOCOL);
    CU_ASSERT_EQUAL(fault.code, SUP_NOT_RUNNING);
}

static void unknown_program_is_bad_name(void)
{
    ferry_xmlrpc_value *v = NULL;
    ferry_xmlrpc_fault fault;
    ferry_err err;
    CU_ASSERT_EQUAL(call("supervisor.startProcess", "ferry-no-such-program", 1, &v, &fault, &err),
                    FERRY_ERR_PROTOCOL);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(fault.code, SUP_BAD_NAME);
    CU_ASSERT_PTR_NOT_NULL(strstr(fault.string, "BAD_NAME"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "fault 10"));
    fprintf(stderr, "supervisor: unknown program -> %s\n", err.msg);

    CU_ASSERT_EQUAL(
        call("supervisor.getProcessInfo", "ferry-no-such-program", -1, &v, &fault, &err),
        FERRY_ERR_PROTOCOL);
    CU_ASSERT_EQUAL(fault.code, SUP_BAD_NAME);

    CU_ASSERT_EQUAL(call("supervisor.noSuchMethod", NULL, -1, &v, &fault, &err),
                    FERRY_ERR_PROTOCOL);
    CU_ASSERT_EQUAL(fault.code, SUP_UNKNOWN_METHOD);
}

static void wrong_password_is_auth_error(void)
{
    static const char wrong[] = "ferry-wrong-password-0123";
    ferry_xmlrpc_opts opts = {.url = T.url, .user = T.user, .password = wrong, .timeout_ms = 5000};
    ferry_xmlrpc *bad = ferry_xmlrpc_new(&opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
    ferry_xmlrpc_value *v = NULL;
    ferry_xmlrpc_fault fault;
    ferry_err err;
    ferry_err_clear(&err);
    CU_ASSERT_EQUAL(ferry_xmlrpc_call(bad, "supervisor.getState", NULL, 0, &v, &fault, &err),
                    FERRY_ERR_AUTH);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(fault.code, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "401"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, wrong));
    CU_ASSERT_PTR_NULL(strstr(err.msg, T.password));
    fprintf(stderr, "supervisor: wrong password -> %s\n", err.msg);
    ferry_xmlrpc_free(bad);

    /* No credentials at all: 401 too. */
    opts.user = NULL;
    opts.password = NULL;
    bad = ferry_xmlrpc_new(&opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
    CU_ASSERT_EQUAL(ferry_xmlrpc_call(bad, "supervisor.getState", NULL, 0, &v, &fault, &err),
                    FERRY_ERR_AUTH);
    ferry_xmlrpc_free(bad);
}

int main(void)
{
    static const ferry_test_case cases[] = {
        {"supervisord is running", supervisord_is_running},
        {"probe starts and runs", probe_starts_and_runs},
        {"probe stops", probe_stops},
        {"unknown program is BAD_NAME", unknown_program_is_bad_name},
        {"wrong password is an auth error", wrong_password_is_auth_error},
        {NULL, NULL},
    };
    static const ferry_test_suite suites[] = {{"supervisor", suite_setup, suite_teardown, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
