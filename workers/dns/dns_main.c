/*
 * dns_main.c - ferry-dns: a worker of the dns kind (no arguments, or the runtime's options), or
 * one operation from the command line:
 *
 *     ferry-dns lower-ttl   --zone Z --name N [--name N ...] [--ttl S]
 *     ferry-dns restore-ttl --zone Z --name N [--name N ...]
 *     ferry-dns rename      --zone Z --from A --to B [--from A --to B ...]
 *     ferry-dns check       --zone Z --from A --to B [...] [--wait S]
 *
 * This file parses and reports; dns.h does the work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "ferry/config.h"
#include "ferry/log.h"
#include "ferry/opts.h"
#include "ferry/worker.h"

#define EXIT_FAILED 1
#define EXIT_USAGE  2
#define EXIT_CONFIG 3

/* ---- the worker ---------------------------------------------------------------------------- */

static bool step_stopping(void *ud)
{
    return ferry_step_stopping(ud);
}

static void step_progress(void *ud, uint64_t done, uint64_t total, const char *detail)
{
    ferry_step_progress p = {.done = done, .total = total, .unit = "names", .detail = detail};
    ferry_step_progress_set(ud, &p);
}

static void report_results(ferry_step_ctx *ctx, const dns_report *rep)
{
    const char *key;
    json_t *value;
    json_object_foreach(rep->results, key, value)
    {
        (void)ferry_step_result(ctx, key, json_string_value(value)); /* best effort */
    }
}

static ferry_rc execute(ferry_step_ctx *ctx, const Ferry__V1__StepCommand *cmd, void *ud,
                        ferry_err *err)
{
    (void)ud;
    dns_report rep = {0};
    if (cmd->params_case != FERRY__V1__STEP_COMMAND__PARAMS_DNS || cmd->dns == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "the step has no DNS parameters");
    if (dns_report_init(&rep) != FERRY_OK)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    const ferry_cfg *cfg = ferry_step_config(ctx);
    dns_step_env env = {.api_url = ferry_cfg_str(cfg, "pdns.api_url"),
                        .api_key = ferry_cfg_str(cfg, "pdns.api_key"),
                        .dns_addr = ferry_cfg_str(cfg, "pdns.dns_addr"),
                        .hooks = {.stopping = step_stopping, .progress = step_progress, .ud = ctx}};
    ferry_rc rc = dns_step_run(&env, cmd->operation, cmd->dns, &rep, err);
    report_results(ctx, &rep);
    /* The server still answering the old way may be a cache that a later try outlives; a
     * half-done rename or a wrong key needs a person. */
    if (rc == FERRY_ERR_CONFLICT)
        ferry_step_set_retryable(ctx, dns_report_get(&rep, "check_dns_mismatch") != NULL);
    dns_report_cleanup(&rep);
    return rc;
}

/* ---- the command line ---------------------------------------------------------------------- */

/* One operation's command line. */
typedef struct cli_args {
    const char *op; /* lower-ttl, restore-ttl, rename or check */
    const char *zone, *secret;
    ferry_opt_list names, froms, tos;
    int64_t ttl, wait_s; /* 0: not given */
    bool as_json, help;
} cli_args;

static void usage(FILE *out, const ferry_opt *table)
{
    (void)fprintf(
        out,
        "usage: ferry-dns [--check-config | --version | --help]\n"
        "           run as a worker of the dns kind (see docs/dns.md)\n"
        "       ferry-dns lower-ttl   --zone ZONE --name NAME [--name NAME ...] [--ttl SECONDS]\n"
        "       ferry-dns restore-ttl --zone ZONE --name NAME [--name NAME ...]\n"
        "       ferry-dns rename      --zone ZONE --from NAME --to NAME [--from ... --to ...]\n"
        "       ferry-dns check       --zone ZONE --from NAME --to NAME [...] [--wait SECONDS]\n"
        "       common: [--api-key-secret NAME] [--json]\n"
        "\n"
        "lower-ttl    sets every record set at the names to SECONDS (default %d), remembering\n"
        "             the old TTL in the record set's comments\n"
        "restore-ttl  gives the names back the TTL lower-ttl remembered\n"
        "rename       moves every record set from each --from to its --to, all in one change\n"
        "check        asks the name server over DNS until it answers the way the API says\n"
        "             (each --to with its records, each --from gone), for up to --wait (10 s)\n"
        "\n"
        "Names are fully qualified with the trailing dot. The PowerDNS API and server come from\n"
        "FERRY_PDNS_API_URL, FERRY_PDNS_API_KEY (or _FILE) and FERRY_PDNS_DNS_ADDR; with\n"
        "--api-key-secret NAME the key is FERRY_SECRET_<NAME> instead. Exit 0 done, 1 failed,\n"
        "2 usage, 3 configuration.\n"
        "\n"
        "options:\n",
        DNS_DEFAULT_TTL);
    ferry_opts_usage(table, out);
}

/* Whether the names fit the operation: NULL, or what the operation needs instead. */
static const char *cli_names_problem(const cli_args *a)
{
    if (strcmp(a->op, "lower-ttl") == 0 || strcmp(a->op, "restore-ttl") == 0)
        return a->names.n > 0 && a->froms.n == 0 && a->tos.n == 0 ? NULL
                                                                  : "--name (no --from/--to)";
    return a->names.n == 0 && a->froms.n > 0 && a->froms.n == a->tos.n && a->ttl == 0
               ? NULL
               : "pairs of --from and --to (no --name, no --ttl)";
}

/* Runs one operation; returns the exit code. */
static int cli_run(const cli_args *a)
{
    const char *op = a->op, *zone = a->zone;
    const char *const *names = a->names.v;
    size_t n_names = a->names.n, n_from = a->froms.n;
    ferry_log_init("ferry-dns", FERRY_LOG_KV, FERRY_LOG_WARN, 2);
    ferry_err err = {0};
    ferry_cfg *cfg = NULL;
    char *problems = NULL, *key = NULL;
    dns_driver *drv = NULL;
    dns_report rep = {0};
    dns_rename *renames = NULL;
    int status = EXIT_FAILED;
    if (dns_report_init(&rep) != FERRY_OK)
        return EXIT_FAILED;
    if (ferry_cfg_load(FERRY_COMP_DNS | FERRY_COMP_STANDALONE, NULL, NULL, &cfg, &problems) !=
        FERRY_OK) {
        (void)fprintf(stderr, "ferry-dns: bad configuration:\n%s",
                      problems != NULL ? problems : "out of memory\n");
        status = EXIT_CONFIG;
        goto out;
    }
    const char *api_key = ferry_cfg_str(cfg, "pdns.api_key");
    if (a->secret != NULL) {
        if (ferry_secret_get(a->secret, &key, &err) != FERRY_OK) {
            (void)fprintf(stderr, "ferry-dns: %s\n", err.msg);
            status = EXIT_CONFIG;
            goto out;
        }
        api_key = key;
    }
    dns_pdns_opts po = {.api_url = ferry_cfg_str(cfg, "pdns.api_url"), .api_key = api_key};
    drv = dns_pdns_new(&po, &err);
    if (drv == NULL) {
        (void)fprintf(stderr, "ferry-dns: %s\n", err.msg);
        status = EXIT_CONFIG;
        goto out;
    }
    renames = calloc(n_from + 1, sizeof(*renames));
    if (renames == NULL) {
        (void)fprintf(stderr, "ferry-dns: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < n_from; i++)
        renames[i] = (dns_rename){.from = a->froms.v[i], .to = a->tos.v[i]};
    dns_options opts = {.drv = drv,
                        .dns_addr = ferry_cfg_str(cfg, "pdns.dns_addr"),
                        .check_ms = (long)a->wait_s * 1000};
    ferry_rc rc;
    if (strcmp(op, "lower-ttl") == 0)
        rc = dns_lower_ttl(&opts, zone, names, n_names, (uint32_t)a->ttl, &rep, &err);
    else if (strcmp(op, "restore-ttl") == 0)
        rc = dns_restore_ttl(&opts, zone, names, n_names, &rep, &err);
    else if (strcmp(op, "rename") == 0)
        rc = dns_rename_apply(&opts, zone, renames, n_from, &rep, &err);
    else
        rc = dns_check(&opts, zone, renames, n_from, &rep, &err);

    if (a->as_json) {
        json_t *j = json_pack("{s:b, s:O}", "ok", rc == FERRY_OK, "results", rep.results);
        if (j != NULL && rc != FERRY_OK)
            (void)json_object_set_new(
                j, "error", json_pack("{s:s, s:s}", "code", ferry_rc_str(rc), "message", err.msg));
        if (j != NULL)
            (void)json_dumpf(j, stdout, JSON_INDENT(2));
        (void)fputc('\n', stdout);
        json_decref(j);
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(rep.results, k, v)
        {
            (void)printf("%s=%s\n", k, json_string_value(v));
        }
    }
    if (rc != FERRY_OK) {
        (void)fprintf(stderr, "ferry-dns: %s failed (%s): %s\n", op, ferry_rc_str(rc), err.msg);
        status = EXIT_FAILED;
    } else {
        status = 0;
    }
out:
    free(renames);
    dns_report_cleanup(&rep);
    dns_driver_free(drv);
    ferry_cfg_free(cfg);
    free(problems);
    if (key != NULL) {
        explicit_bzero(key, strlen(key));
        free(key);
    }
    return status;
}

static int cli_main(int argc, char **argv)
{
    cli_args a = {.op = argv[1]};
    /* clang-format off */
    const ferry_opt table[] = {
        {.name = "zone", .kind = FERRY_OPT_STRING, .flags = FERRY_OPT_REQUIRED, .dest = &a.zone,
         .arg = "ZONE", .help = "the zone the names are in"},
        {.name = "name", .kind = FERRY_OPT_STRING, .flags = FERRY_OPT_REPEAT, .dest = &a.names,
         .arg = "NAME", .help = "(lower-ttl, restore-ttl) a name whose TTL changes"},
        {.name = "from", .kind = FERRY_OPT_STRING, .flags = FERRY_OPT_REPEAT, .dest = &a.froms,
         .arg = "NAME", .help = "(rename, check) a name whose record sets move"},
        {.name = "to", .kind = FERRY_OPT_STRING, .flags = FERRY_OPT_REPEAT, .dest = &a.tos,
         .arg = "NAME", .help = "(rename, check) where the --from of the same rank goes"},
        {.name = "ttl", .kind = FERRY_OPT_INT, .dest = &a.ttl, .min = 1, .max = 7 * 86400,
         .arg = "SECONDS", .help = "(lower-ttl) the TTL to set"},
        {.name = "wait", .kind = FERRY_OPT_INT, .dest = &a.wait_s, .min = 1, .max = 3600,
         .arg = "SECONDS", .help = "(check) how long to ask"},
        {.name = "api-key-secret", .kind = FERRY_OPT_STRING, .dest = &a.secret, .arg = "NAME",
         .help = "the API key is FERRY_SECRET_<NAME> (or _FILE)"},
        {.name = "json", .kind = FERRY_OPT_FLAG, .dest = &a.as_json,
         .help = "print the results as JSON"},
        {.name = "help", .kind = FERRY_OPT_FLAG, .flags = FERRY_OPT_STOP, .dest = &a.help,
         .help = "print this help"},
        {.name = NULL},
    };
    /* clang-format on */
    ferry_err err = {0};
    int status = EXIT_USAGE;
    ferry_rc rc = ferry_opts_parse(table, argc - 1, argv + 1, NULL, &err);
    const char *needs = rc == FERRY_OK && !a.help ? cli_names_problem(&a) : NULL;
    if (needs != NULL)
        rc = ferry_err_set(&err, FERRY_ERR_INVALID, "needs %s", needs);
    if (rc != FERRY_OK) {
        (void)fprintf(stderr, "ferry-dns %s: %s\n", a.op, err.msg);
        usage(stderr, table);
        status = rc == FERRY_ERR_INVALID ? EXIT_USAGE : EXIT_FAILED;
    } else if (a.help) {
        usage(stdout, table);
        status = 0;
    } else {
        status = cli_run(&a);
    }
    ferry_opts_cleanup(table);
    return status;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "lower-ttl") == 0 || strcmp(argv[1], "restore-ttl") == 0 ||
                      strcmp(argv[1], "rename") == 0 || strcmp(argv[1], "check") == 0))
        return cli_main(argc, argv);
    ferry_worker_def def = {.kind = FERRY__V1__STEP_KIND__STEP_KIND_DNS,
                            .component = FERRY_COMP_DNS,
                            .name = "ferry-dns",
                            .execute = execute};
    return ferry_worker_main(argc, argv, &def);
}
