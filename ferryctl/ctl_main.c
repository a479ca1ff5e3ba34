/*
 * ctl_main.c - ferryctl, the command line of Ferry's coordinator: parses the command line,
 * loads the configuration (coordinator.url, coordinator.token) and hands over to ctl_cmd.c.
 * Documented in docs/ferryctl.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_client.h"
#include "ctl_cmd.h"
#include "ctlargs.h"
#include "ferry/config.h"

/* The project's version (CMakeLists.txt, project(ferry VERSION ...)). */
#ifndef FERRY_VERSION
#error "FERRY_VERSION comes from the build (CMakeLists.txt)"
#endif

static const char usage_text[] =
    "Usage: ferryctl [OPTIONS] VERB [ARGS]\n"
    "\n"
    "Drives Ferry's coordinator through its HTTP API.\n"
    "\n"
    "Verbs:\n"
    "  create SPECFILE                 check a spec (docs/spec.md) and create its app\n"
    "  replicate APP [--env E] [--overwrite]  start replicating (all environments by\n"
    "                                  default); waits until each target app is found stopped\n"
    "  replicate --all | --file LIST   ... every app, or the apps of a list (one per line)\n"
    "  stop APP [--env E] [--interrupt]  stop replicating (--interrupt: at once, target\n"
    "                                  left incomplete); also --all, --file LIST\n"
    "  test-start APP [--env E] [--force]  start the target app for a test (default\n"
    "                                  production)\n"
    "  test-stop APP [--env E]         stop it again\n"
    "  migrate APP                     final migration (also --all, --file LIST)\n"
    "  rollback APP --yes              back to the source platform (what the target wrote\n"
    "                                  since the cutover is lost)\n"
    "  replay APP [--env E] [--step ID]  replay failed steps\n"
    "  status [APP | APP.ENV]          the status table; one migration in detail\n"
    "  watch APP [--interval 1s]       progress of APP until every migration is at rest\n"
    "  steps APP                       every step of every environment of APP\n"
    "  workers                         the workers and their heartbeats\n"
    "  history MIGRATION [--count N]   the last N events of a migration (default 100)\n"
    "  history [APP] [--count N]       the last N entries of the audit trail (all apps, or one)\n"
    "  dead-letter list [--count N]    messages the workers could not decode\n"
    "  dead-letter replay ID           publish a dead letter again to its topic\n"
    "  delete APP                      forget an app at rest\n"
    "  whoami                          the user and role of the token\n"
    "  user list                       the users (admin)\n"
    "  user add NAME --role R [--apps A,B] [--expires T]\n"
    "                                  a new user (admin, operator or viewer); prints its\n"
    "                                  token, once, alone on standard output\n"
    "  user remove NAME                remove a user; its token stops working\n"
    "  user token NAME                 a new token for NAME (the old one stops working)\n"
    "\n"
    "Options:\n"
    "  -u, --url URL       the coordinator (default $FERRY_COORDINATOR_URL or\n"
    "                      http://127.0.0.1:18700)\n"
    "  -e, --env ENV       one environment instead of all\n"
    "  -a, --all           every app (replicate, stop, migrate)\n"
    "  -f, --file LIST     the apps named in LIST, one per line, '#' comments ('-': stdin)\n"
    "  -i, --interrupt     stop at once\n"
    "      --overwrite     replicate onto a target holding data Ferry did not write\n"
    "      --force         test-start although replication never reached 100%\n"
    "      --yes           confirm a rollback\n"
    "  -s, --step ID       the step to replay\n"
    "  -n, --count N       how many events, audit entries or dead letters (1..10000)\n"
    "      --role R        user add: admin, operator or viewer\n"
    "      --apps A,B      user add: the apps an operator may command\n"
    "      --expires T     user add: when its token stops working (RFC 3339 with zone, or\n"
    "                      ms since the epoch)\n"
    "      --interval D    watch's refresh period (100ms..1h, default 1s)\n"
    "  -j, --json          print the API's JSON answer (every verb but watch)\n"
    "  -q, --quiet         print nothing on success but what was asked for\n"
    "  -h, --help          this text\n"
    "  -V, --version       the version\n"
    "\n"
    "Environment: FERRY_COORDINATOR_URL; FERRY_COORDINATOR_TOKEN or FERRY_COORDINATOR_TOKEN_FILE\n"
    "(the API's bearer token; never given on the command line).\n"
    "\n"
    "Exit codes: 0 ok; 1 refused (409) or an app of a bulk command failed; 2 usage or\n"
    "configuration; 3 not found (404); 4 invalid spec or request (422, 400); 5 coordinator\n"
    "unreachable or failing (5xx, 503); 6 unauthorized (401); 7 forbidden to this user (403).\n";

/* Refuses a --url that is not http(s) or that carries credentials (they would show in
 * messages; the token has its own variable). */
static int url_check(const char *url)
{
    const char *rest = NULL;
    if (strncmp(url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    if (rest == NULL || rest[0] == '\0' || rest[0] == '/') {
        fputs("ferryctl: --url: want http://host:port or https://host:port\n", stderr);
        return FERRY_CTL_EXIT_USAGE;
    }
    size_t host_len = strcspn(rest, "/?#");
    if (memchr(rest, '@', host_len) != NULL) {
        fputs("ferryctl: --url: credentials do not belong in the URL; set "
              "FERRY_COORDINATOR_TOKEN\n",
              stderr);
        return FERRY_CTL_EXIT_USAGE;
    }
    return FERRY_CTL_EXIT_OK;
}

int main(int argc, char **argv)
{
    ferry_ctl_args args;
    ferry_err err = {0};
    ferry_cfg *cfg = NULL;
    ctl_client *client = NULL;
    char *problems = NULL;
    int code = FERRY_CTL_EXIT_OK;

    if (ferry_ctl_args_parse(argc, argv, &args, &err) != FERRY_OK) {
        fprintf(stderr, "ferryctl: %s\nTry 'ferryctl --help'.\n", err.msg);
        return FERRY_CTL_EXIT_USAGE;
    }
    if (args.verb == FERRY_CTL_HELP) {
        fputs(usage_text, stdout);
        return FERRY_CTL_EXIT_OK;
    }
    if (args.verb == FERRY_CTL_VERSION) {
        puts("ferryctl " FERRY_VERSION);
        return FERRY_CTL_EXIT_OK;
    }
    if (args.url != NULL) {
        code = url_check(args.url);
        if (code != FERRY_CTL_EXIT_OK)
            goto out;
    }

    if (ferry_cfg_load(FERRY_COMP_CTL, NULL, NULL, &cfg, &problems) != FERRY_OK) {
        /* One problem per line, each naming its variable; never a secret's value. */
        const char *line = problems != NULL ? problems : "cannot load the configuration\n";
        while (*line != '\0') {
            size_t len = strcspn(line, "\n");
            fprintf(stderr, "ferryctl: %.*s\n", (int)len, line);
            line += len;
            if (*line == '\n')
                line++;
        }
        code = FERRY_CTL_EXIT_USAGE;
        goto out;
    }
    const char *url = args.url != NULL ? args.url : ferry_cfg_str(cfg, "coordinator.url");
    client = ctl_client_new(url, ferry_cfg_str(cfg, "coordinator.token"), &err);
    if (client == NULL) {
        fprintf(stderr, "ferryctl: %s\n", err.msg);
        code = FERRY_CTL_EXIT_UNAVAILABLE;
        goto out;
    }
    code = ctl_cmd_run(&args, client);

out:
    ctl_client_free(client);
    ferry_cfg_free(cfg);
    free(problems);
    if (fflush(stdout) != 0 && code == FERRY_CTL_EXIT_OK) {
        fputs("ferryctl: writing the output failed\n", stderr);
        code = FERRY_CTL_EXIT_REFUSED;
    }
    return code;
}
