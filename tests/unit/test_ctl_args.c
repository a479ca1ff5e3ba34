/* Unit tests for ctlargs.c: ferryctl's verbs and options, list files and exit codes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctlargs.h"
#include "ferry_test.h"

#define MAX_ARGS 16

/* A mutable argv (getopt_long permutes it) built from a space-separated line. */
typedef struct argv_buf {
    char text[512];
    char *argv[MAX_ARGS + 1];
    int argc;
} argv_buf;

static ferry_rc parse(argv_buf *a, const char *line, ferry_ctl_args *args, ferry_err *err)
{
    int n = snprintf(a->text, sizeof(a->text), "ferryctl %s", line);
    CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(a->text));
    a->argc = 0;
    char *p = a->text;
    while (*p != '\0' && a->argc < MAX_ARGS) {
        while (*p == ' ')
            *p++ = '\0';
        if (*p == '\0')
            break;
        a->argv[a->argc++] = p;
        while (*p != '\0' && *p != ' ')
            p++;
    }
    a->argv[a->argc] = NULL;
    ferry_err_clear(err);
    return ferry_ctl_args_parse(a->argc, a->argv, args, err);
}

/* Parses a line that must be refused; returns the message. */
static const char *refused(const char *line)
{
    static ferry_err err;
    argv_buf a;
    ferry_ctl_args args;
    ferry_rc rc = parse(&a, line, &args, &err);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_INVALID);
    if (rc != FERRY_ERR_INVALID)
        fprintf(stderr, "accepted: %s\n", line);
    return err.msg;
}

static void verbs_and_targets(void)
{
    argv_buf a;
    ferry_ctl_args args;
    ferry_err err;

    CU_ASSERT_EQUAL_FATAL(parse(&a, "replicate shop --env test", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_REPLICATE);
    CU_ASSERT_STRING_EQUAL(args.verb_name, "replicate");
    CU_ASSERT_STRING_EQUAL(args.target, "shop");
    CU_ASSERT_STRING_EQUAL(args.env, "test");
    CU_ASSERT_FALSE(ferry_ctl_args_bulk(&args));

    /* Options before the verb, short forms, "--opt=value". */
    CU_ASSERT_EQUAL_FATAL(parse(&a, "-j --url=http://h:1 status shop", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_STATUS);
    CU_ASSERT_TRUE(args.json);
    CU_ASSERT_STRING_EQUAL(args.url, "http://h:1");
    CU_ASSERT_STRING_EQUAL(args.target, "shop");

    CU_ASSERT_EQUAL_FATAL(parse(&a, "stop --all --interrupt -q", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_STOP);
    CU_ASSERT_TRUE(args.all);
    CU_ASSERT_TRUE(args.interrupt);
    CU_ASSERT_TRUE(args.quiet);
    CU_ASSERT_PTR_NULL(args.target);
    CU_ASSERT_TRUE(ferry_ctl_args_bulk(&args));

    /* The guard rails' overrides, each on its verb only. */
    CU_ASSERT_EQUAL_FATAL(parse(&a, "rollback shop --yes", &args, &err), FERRY_OK);
    CU_ASSERT_TRUE(args.yes);
    CU_ASSERT_FALSE(args.force || args.overwrite);
    CU_ASSERT_EQUAL_FATAL(parse(&a, "replicate shop --overwrite", &args, &err), FERRY_OK);
    CU_ASSERT_TRUE(args.overwrite);
    CU_ASSERT_EQUAL_FATAL(parse(&a, "test-start shop --force", &args, &err), FERRY_OK);
    CU_ASSERT_TRUE(args.force);

    CU_ASSERT_EQUAL_FATAL(parse(&a, "migrate --file apps.txt", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_MIGRATE);
    CU_ASSERT_STRING_EQUAL(args.file, "apps.txt");

    CU_ASSERT_EQUAL_FATAL(parse(&a, "replay shop --env production --step dr-3", &args, &err),
                          FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_REPLAY);
    CU_ASSERT_STRING_EQUAL(args.step, "dr-3");

    CU_ASSERT_EQUAL_FATAL(parse(&a, "dead-letter list --count 5", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_DL_LIST);
    CU_ASSERT_STRING_EQUAL(args.verb_name, "dead-letter list");
    CU_ASSERT_EQUAL(args.count, 5);
    CU_ASSERT_PTR_NULL(args.target);

    CU_ASSERT_EQUAL_FATAL(parse(&a, "dead-letter replay 1795300000000-0", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_DL_REPLAY);
    CU_ASSERT_STRING_EQUAL(args.target, "1795300000000-0");

    CU_ASSERT_EQUAL_FATAL(parse(&a, "history shop.production", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_HISTORY);
    CU_ASSERT_EQUAL(args.count, FERRY_CTL_DEFAULT_COUNT);

    CU_ASSERT_EQUAL_FATAL(parse(&a, "watch shop --interval 500ms", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.interval_ms, 500);
    CU_ASSERT_EQUAL_FATAL(parse(&a, "watch shop", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.interval_ms, FERRY_CTL_DEFAULT_INTERVAL_MS);

    CU_ASSERT_EQUAL_FATAL(parse(&a, "status", &args, &err), FERRY_OK);
    CU_ASSERT_PTR_NULL(args.target);
    CU_ASSERT_EQUAL_FATAL(parse(&a, "workers", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_WORKERS);
    CU_ASSERT_EQUAL_FATAL(parse(&a, "create shop.json", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_CREATE);
    CU_ASSERT_STRING_EQUAL(args.target, "shop.json");
    CU_ASSERT_EQUAL_FATAL(parse(&a, "delete shop", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_DELETE);

    /* history: a migration's events (APP.ENV), or the audit trail of an app or of all. */
    CU_ASSERT_EQUAL_FATAL(parse(&a, "history shop --count 20", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_HISTORY);
    CU_ASSERT_STRING_EQUAL(args.target, "shop");
    CU_ASSERT_EQUAL(args.count, 20);
    CU_ASSERT_EQUAL_FATAL(parse(&a, "history --json", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_HISTORY);
    CU_ASSERT_PTR_NULL(args.target);
    CU_ASSERT_TRUE(args.json);

    /* "--" ends the options: an app may start with a dash. */
    CU_ASSERT_EQUAL_FATAL(parse(&a, "steps -- -odd", &args, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(args.target, "-odd");
}

static void user_verbs(void)
{
    argv_buf a;
    ferry_ctl_args args;
    ferry_err err;

    CU_ASSERT_EQUAL_FATAL(parse(&a, "whoami", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_WHOAMI);
    CU_ASSERT_PTR_NULL(args.target);
    CU_ASSERT_EQUAL_FATAL(parse(&a, "user list --json", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_USER_LIST);
    CU_ASSERT_STRING_EQUAL(args.verb_name, "user list");
    CU_ASSERT_TRUE(args.json);

    CU_ASSERT_EQUAL_FATAL(
        parse(&a, "user add ops-shop --role operator --apps shop,crm-2", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_USER_ADD);
    CU_ASSERT_STRING_EQUAL(args.verb_name, "user add");
    CU_ASSERT_STRING_EQUAL(args.target, "ops-shop");
    CU_ASSERT_STRING_EQUAL(args.role, "operator");
    CU_ASSERT_STRING_EQUAL(args.apps, "shop,crm-2");
    CU_ASSERT_EQUAL(args.expires_ms, 0);

    /* 2026-11-21T22:26:40Z is 1795300000000. */
    CU_ASSERT_EQUAL_FATAL(
        parse(&a, "--role=viewer user add dash_1 --expires 2026-11-21T22:26:40Z", &args, &err),
        FERRY_OK);
    CU_ASSERT_STRING_EQUAL(args.role, "viewer");
    CU_ASSERT_PTR_NULL(args.apps);
    CU_ASSERT_EQUAL(args.expires_ms, INT64_C(1795300000000));
    CU_ASSERT_EQUAL_FATAL(parse(&a, "user add x --role admin --expires 1795300000000", &args, &err),
                          FERRY_OK);
    CU_ASSERT_EQUAL(args.expires_ms, INT64_C(1795300000000));

    CU_ASSERT_EQUAL_FATAL(parse(&a, "user remove ops-shop", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_USER_REMOVE);
    CU_ASSERT_STRING_EQUAL(args.target, "ops-shop");
    CU_ASSERT_EQUAL_FATAL(parse(&a, "user token ops-shop -q", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_USER_TOKEN);
    CU_ASSERT_TRUE(args.quiet);
    CU_ASSERT_PTR_NULL(args.role); /* nothing left over */
}

static void user_usage_errors(void)
{
    CU_ASSERT_STRING_EQUAL(refused("user"),
                           "user: want 'list', 'add', 'remove' or 'token' after it");
    CU_ASSERT_STRING_EQUAL(refused("user delete x"),
                           "user: want 'list', 'add', 'remove' or 'token' after it");
    CU_ASSERT_STRING_EQUAL(refused("user add"), "user add: missing NAME");
    CU_ASSERT_STRING_EQUAL(refused("user remove"), "user remove: missing NAME");
    CU_ASSERT_STRING_EQUAL(refused("user token"), "user token: missing NAME");
    CU_ASSERT_STRING_EQUAL(refused("user add x"),
                           "user add: --role is required: admin, operator or viewer");
    CU_ASSERT_STRING_EQUAL(refused("user add x --role root"),
                           "user add: --role: want admin, operator or viewer, not 'root'");
    CU_ASSERT_STRING_EQUAL(refused("user add x --role Admin"),
                           "user add: --role: want admin, operator or viewer, not 'Admin'");
    CU_ASSERT_STRING_EQUAL(refused("user add Ops --role viewer"),
                           "user add: 'Ops' is not a user name: 1 to 64 of a-z, 0-9, '-' and '_'");
    CU_ASSERT_STRING_EQUAL(
        refused("user remove a.b"),
        "user remove: 'a.b' is not a user name: 1 to 64 of a-z, 0-9, '-' and '_'");
    CU_ASSERT_PTR_NOT_NULL(
        strstr(refused("user token "
                       "a23456789012345678901234567890123456789012345678901234567"
                       "8901234567"),
               "is not a user name"));
    CU_ASSERT_STRING_EQUAL(refused("user add x --role operator --apps="),
                           "user add: --apps is empty");
    CU_ASSERT_STRING_EQUAL(refused("user add x --role operator --apps shop,,crm"),
                           "user add: --apps: an empty name in 'shop,,crm' (want app,app,...)");
    CU_ASSERT_STRING_EQUAL(refused("user add x --role operator --apps shop,"),
                           "user add: --apps: an empty name in 'shop,' (want app,app,...)");
    CU_ASSERT_PTR_NOT_NULL(
        strstr(refused("user add x --role operator --apps shop,Crm"), "'Crm' is not an app name"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(refused("user add x --role operator --apps -shop"), "'-shop' is not an app name"));
    CU_ASSERT_PTR_NOT_NULL(strstr(refused("user add x --role viewer --expires tomorrow"),
                                  "user add: --expires: want an RFC 3339 time"));
    CU_ASSERT_PTR_NOT_NULL(strstr(refused("user add x --role viewer --expires 1795300000"),
                                  "'1795300000' looks like seconds"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(refused("user add x --role viewer --expires 2026-12-31T23:59:59"), "not '"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(refused("user add x --role viewer --expires 2026-02-30T00:00:00Z"), "not '"));
    /* The user options go with user add only. */
    CU_ASSERT_STRING_EQUAL(refused("user token x --role admin"),
                           "user token: --role is not an option of this verb");
    CU_ASSERT_STRING_EQUAL(refused("migrate shop --apps shop"),
                           "migrate: --apps is not an option of this verb");
    CU_ASSERT_STRING_EQUAL(refused("user list --expires 1795300000000"),
                           "user list: --expires is not an option of this verb");
    CU_ASSERT_STRING_EQUAL(refused("whoami --count 3"),
                           "whoami: --count is not an option of this verb");
    CU_ASSERT_STRING_EQUAL(refused("whoami me"), "whoami: unexpected argument 'me'");
    CU_ASSERT_STRING_EQUAL(refused("user list x"), "user list: unexpected argument 'x'");
    CU_ASSERT_STRING_EQUAL(refused("history a b"), "history: unexpected argument 'b'");
}

static void expiry_times(void)
{
    int64_t ms = 0;
    ferry_err err;
    CU_ASSERT_EQUAL(ferry_ctl_parse_expires("2026-11-21T22:26:40Z", &ms, &err), FERRY_OK);
    CU_ASSERT_EQUAL(ms, INT64_C(1795300000000));
    CU_ASSERT_EQUAL(ferry_ctl_parse_expires("2026-11-21t22:26:40.25z", &ms, &err), FERRY_OK);
    CU_ASSERT_EQUAL(ms, INT64_C(1795300000250));
    CU_ASSERT_EQUAL(ferry_ctl_parse_expires("2026-11-21T23:26:40+01:00", &ms, &err), FERRY_OK);
    CU_ASSERT_EQUAL(ms, INT64_C(1795300000000));
    CU_ASSERT_EQUAL(ferry_ctl_parse_expires("2026-11-21 17:56:40-04:30", &ms, &err), FERRY_OK);
    CU_ASSERT_EQUAL(ms, INT64_C(1795300000000));
    CU_ASSERT_EQUAL(ferry_ctl_parse_expires("2028-02-29T00:00:00Z", &ms, &err), FERRY_OK);
    CU_ASSERT_EQUAL(ferry_ctl_parse_expires("1795300000000", &ms, &err), FERRY_OK);
    CU_ASSERT_EQUAL(ms, INT64_C(1795300000000));

    static const char *const bad[] = {
        "",
        "2026-11-21",
        "2026-11-21T22:26:40",
        "2026-11-21T22:26Z",
        "2026-11-21T22:26:40.Z",
        "2026-11-21T22:26:40+0100",
        "2026-11-21T22:26:40+01",
        "2026-13-01T00:00:00Z",
        "2027-02-29T00:00:00Z",
        "2026-11-21T24:00:00Z",
        "2026-11-21T22:26:40Z trailing",
        "1795300000",
        "99999999999999999999999",
        "-1795300000000",
        "+1795300000000",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = 7;
        ferry_rc rc = ferry_ctl_parse_expires(bad[i], &ms, &err);
        CU_ASSERT_EQUAL(rc, FERRY_ERR_INVALID);
        CU_ASSERT_EQUAL(ms, 7);
        if (rc != FERRY_ERR_INVALID)
            fprintf(stderr, "accepted --expires %s\n", bad[i]);
        else
            CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "--expires"));
    }
}

static void help_and_version(void)
{
    argv_buf a;
    ferry_ctl_args args;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(parse(&a, "", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_HELP);
    CU_ASSERT_EQUAL_FATAL(parse(&a, "status --help", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_HELP);
    CU_ASSERT_EQUAL_FATAL(parse(&a, "-V", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_VERSION);
}

static void usage_errors(void)
{
    CU_ASSERT_STRING_EQUAL(refused("bogus"), "unknown verb 'bogus' (see ferryctl --help)");
    CU_ASSERT_STRING_EQUAL(refused("dead-letter"), "dead-letter: want 'list' or 'replay' after it");
    CU_ASSERT_STRING_EQUAL(refused("dead-letter purge"),
                           "dead-letter: want 'list' or 'replay' after it");
    CU_ASSERT_STRING_EQUAL(refused("replicate"),
                           "replicate: name an app, or use --all or --file LIST");
    CU_ASSERT_PTR_NOT_NULL(strstr(refused("stop shop --all"), "only one of them"));
    CU_ASSERT_PTR_NOT_NULL(strstr(refused("migrate --all --file x"), "only one of them"));
    CU_ASSERT_STRING_EQUAL(refused("workers --env test"),
                           "workers: --env is not an option of this verb");
    CU_ASSERT_STRING_EQUAL(refused("watch shop --json"),
                           "watch: --json is not an option of this verb");
    CU_ASSERT_STRING_EQUAL(refused("migrate shop --env test"),
                           "migrate: --env is not an option of this verb");
    CU_ASSERT_STRING_EQUAL(refused("replicate shop --interrupt"),
                           "replicate: --interrupt is not an option of this verb");
    CU_ASSERT_STRING_EQUAL(refused("migrate shop --yes"),
                           "migrate: --yes is not an option of this verb");
    CU_ASSERT_STRING_EQUAL(refused("stop shop --overwrite"),
                           "stop: --overwrite is not an option of this verb");
    CU_ASSERT_STRING_EQUAL(refused("rollback shop --force"),
                           "rollback: --force is not an option of this verb");
    CU_ASSERT_STRING_EQUAL(refused("workers extra"), "workers: unexpected argument 'extra'");
    CU_ASSERT_STRING_EQUAL(refused("status a b"), "status: unexpected argument 'b'");
    CU_ASSERT_STRING_EQUAL(refused("status --env test"), "status: --env needs an APP");
    CU_ASSERT_PTR_NOT_NULL(strstr(refused("history m --count 0"), "--count"));
    CU_ASSERT_PTR_NOT_NULL(strstr(refused("history m --count 10001"), "--count"));
    CU_ASSERT_PTR_NOT_NULL(strstr(refused("history m --count 12abc"), "'12abc'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(refused("watch shop --interval 5"), "--interval"));
    CU_ASSERT_PTR_NOT_NULL(strstr(refused("watch shop --interval soon"), "'soon'"));
    CU_ASSERT_STRING_EQUAL(refused("status --bogus"), "unknown option --bogus");
    CU_ASSERT_STRING_EQUAL(refused("status -x"), "unknown option -x");
    CU_ASSERT_STRING_EQUAL(refused("status --env"), "option --env needs a value");
    CU_ASSERT_STRING_EQUAL(refused("status -e"), "option -e needs a value");
    CU_ASSERT_STRING_EQUAL(refused("status --json=yes"), "option --json takes no value");
    /* The token has no option: it never appears on a command line. */
    CU_ASSERT_STRING_EQUAL(refused("status --token abc"), "unknown option --token");
}

static void parsing_twice_starts_over(void)
{
    argv_buf a, b;
    ferry_ctl_args args;
    ferry_err err;
    CU_ASSERT_EQUAL(parse(&a, "steps shop --json", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(parse(&b, "stop crm --interrupt", &args, &err), FERRY_OK);
    CU_ASSERT_EQUAL(args.verb, FERRY_CTL_STOP);
    CU_ASSERT_STRING_EQUAL(args.target, "crm");
    CU_ASSERT_TRUE(args.interrupt);
    CU_ASSERT_FALSE(args.json); /* nothing left over from the first line */
}

static void list_files(void)
{
    char **apps = NULL;
    size_t n = 0;
    ferry_err err;
    const char *text = "# wave 1\n"
                       "shop\n"
                       "  crm   # the CRM\r\n"
                       "\n"
                       "\t\n"
                       "shop\n"
                       "billing";
    CU_ASSERT_EQUAL_FATAL(ferry_ctl_list_parse(text, &apps, &n, &err), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(n, 3); /* the second "shop" is dropped */
    CU_ASSERT_STRING_EQUAL(apps[0], "shop");
    CU_ASSERT_STRING_EQUAL(apps[1], "crm");
    CU_ASSERT_STRING_EQUAL(apps[2], "billing");
    ferry_ctl_list_free(apps, n);

    CU_ASSERT_EQUAL(ferry_ctl_list_parse("shop\nmy app\n", &apps, &n, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "line 2"));
    CU_ASSERT_PTR_NULL(apps);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(ferry_ctl_list_parse("# nothing\n\n", &apps, &n, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_ctl_list_parse("", &apps, &n, &err), FERRY_ERR_INVALID);
    ferry_ctl_list_free(NULL, 0);
}

static void exit_codes(void)
{
    CU_ASSERT_EQUAL(ferry_ctl_exit_for_status(200), FERRY_CTL_EXIT_OK);
    CU_ASSERT_EQUAL(ferry_ctl_exit_for_status(201), FERRY_CTL_EXIT_OK);
    CU_ASSERT_EQUAL(ferry_ctl_exit_for_status(202), FERRY_CTL_EXIT_OK);
    CU_ASSERT_EQUAL(ferry_ctl_exit_for_status(409), 1);
    CU_ASSERT_EQUAL(ferry_ctl_exit_for_status(404), 3);
    CU_ASSERT_EQUAL(ferry_ctl_exit_for_status(422), 4);
    CU_ASSERT_EQUAL(ferry_ctl_exit_for_status(400), 4);
    CU_ASSERT_EQUAL(ferry_ctl_exit_for_status(413), 4);
    CU_ASSERT_EQUAL(ferry_ctl_exit_for_status(503), 5);
    CU_ASSERT_EQUAL(ferry_ctl_exit_for_status(500), 5);
    CU_ASSERT_EQUAL(ferry_ctl_exit_for_status(0), 5);
    CU_ASSERT_EQUAL(ferry_ctl_exit_for_status(401), 6);
    CU_ASSERT_EQUAL(ferry_ctl_exit_for_status(403), 7); /* the user's role, not its token */
    CU_ASSERT_EQUAL(ferry_ctl_exit_worst(0, 1), 1);
    CU_ASSERT_EQUAL(ferry_ctl_exit_worst(3, 1), 3);
    CU_ASSERT_EQUAL(ferry_ctl_exit_worst(5, 6), 6);
}

static const ferry_test_case cases[] = {
    {"verbs and targets", verbs_and_targets},
    {"user verbs", user_verbs},
    {"user usage errors", user_usage_errors},
    {"expiry times", expiry_times},
    {"help and version", help_and_version},
    {"usage errors", usage_errors},
    {"parsing twice starts over", parsing_twice_starts_over},
    {"list files", list_files},
    {"exit codes", exit_codes},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"ctl_args", NULL, NULL, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
