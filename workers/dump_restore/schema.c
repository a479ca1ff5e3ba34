/*
 * schema.c - pg_dump and pg_restore as child processes (see schema.h).
 */
#define _GNU_SOURCE
#include "schema.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/log.h"

#define TOOL_TICK_MS  100
#define TOOL_GRACE_MS 5000 /* after SIGTERM, before SIGKILL */
#define STDERR_KEEP   65536
#define ENV_MAX       1024
#define PG_LIB_DIR    "/usr/lib/postgresql"

/* The first line of a tool's stderr that says "error:" (else the first line), redacted. */
static void tool_error_line(int fd, char *out, size_t outsz)
{
    char *text = malloc(STDERR_KEEP + 1);
    out[0] = '\0';
    if (text == NULL)
        return;
    ssize_t n = pread(fd, text, STDERR_KEEP, 0);
    text[n > 0 ? n : 0] = '\0';
    char *line = strstr(text, "error: ");
    if (line != NULL)
        line += strlen("error: ");
    else
        line = text;
    line[strcspn(line, "\n")] = '\0';
    (void)ferry_redact(line, out, outsz);
    free(text);
}

/*
 * Runs argv (argv[0] a path) with PGPASSWORD set to password when given, stdout to /dev/null,
 * stderr kept for the error message. Stops it when stop says so.
 */
static ferry_rc run_tool(const char *what, const char *const argv[], const char *password,
                         const dr_stop *stop, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    char **envp = NULL;
    char *pw_var = NULL;
    int errfd = -1;
    pid_t parent = getpid();

    size_t n_env = 0;
    envp = calloc(ENV_MAX + 2, sizeof(char *));
    if (envp == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "%s: out of memory", what);
    for (char **e = environ; *e != NULL && n_env < ENV_MAX; e++)
        if (strncmp(*e, "PGPASSWORD=", 11) != 0)
            envp[n_env++] = *e;
    if (password != NULL) {
        size_t len = strlen("PGPASSWORD=") + strlen(password) + 1;
        pw_var = malloc(len);
        if (pw_var == NULL) {
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "%s: out of memory", what);
            goto out;
        }
        (void)snprintf(pw_var, len, "PGPASSWORD=%s", password);
        envp[n_env++] = pw_var;
    }
    errfd = memfd_create("ferry-tool-stderr", MFD_CLOEXEC);
    if (errfd < 0) {
        rc = ferry_err_set_errno(err, FERRY_ERR_IO, errno, "%s: memfd_create", what);
        goto out;
    }

    pid_t pid = fork();
    if (pid < 0) {
        rc = ferry_err_set_errno(err, FERRY_ERR_IO, errno, "%s: fork", what);
        goto out;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until execve. It dies with the worker. */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull < 0)
            _exit(126);
        (void)dup2(devnull, STDIN_FILENO);
        (void)dup2(devnull, STDOUT_FILENO);
        (void)dup2(errfd, STDERR_FILENO);
        execve(argv[0], (char *const *)argv, envp);
        _exit(127);
    }

    int status = 0;
    int64_t term_at = -1, waited = 0;
    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            break;
        if (got < 0 && errno != EINTR) {
            rc = ferry_err_set_errno(err, FERRY_ERR_INTERNAL, errno, "%s: waitpid", what);
            (void)kill(pid, SIGKILL);
            (void)waitpid(pid, &status, 0);
            goto out;
        }
        if (term_at < 0 && stop != NULL && stop->stopping(stop->ud)) {
            (void)kill(pid, SIGTERM);
            term_at = waited;
        } else if (term_at >= 0 && waited - term_at >= TOOL_GRACE_MS) {
            (void)kill(pid, SIGKILL);
        }
        ferry_sleep_ms(TOOL_TICK_MS);
        waited += TOOL_TICK_MS;
    }
    if (term_at >= 0) {
        rc = ferry_err_set(err, FERRY_ERR_CANCELLED, "%s: stopped", what);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        rc = FERRY_OK;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        rc = ferry_err_set(err, FERRY_ERR_CONFIG, "%s: cannot run %s", what, argv[0]);
    } else {
        char line[400];
        tool_error_line(errfd, line, sizeof(line));
        ferry_rc code = dr_pg_classify_text(line);
        if (code == FERRY_ERR_CANCELLED)
            code = FERRY_ERR_SERVER;
        if (WIFSIGNALED(status))
            rc = ferry_err_set(err, FERRY_ERR_INTERNAL, "%s: killed by signal %d", what,
                               WTERMSIG(status));
        else
            rc = ferry_err_set(err, code, "%s failed: %s", what,
                               line[0] != '\0' ? line : "(no message)");
    }
out:
    if (errfd >= 0)
        (void)close(errfd);
    if (pw_var != NULL) {
        explicit_bzero(pw_var, strlen(pw_var));
        free(pw_var);
    }
    free(envp);
    return rc;
}

/* Reads "pg_dump (PostgreSQL) 15.4 (Debian ...)" from `pg_dump --version`; 0 when unknown. */
static int tool_major(const char *pg_dump)
{
    char cmd[600];
    int n = snprintf(cmd, sizeof(cmd), "'%s' --version", pg_dump);
    if (n < 0 || (size_t)n >= sizeof(cmd) || strchr(pg_dump, '\'') != NULL)
        return 0;
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return 0;
    char line[256] = "";
    if (fgets(line, sizeof(line), p) == NULL)
        line[0] = '\0';
    (void)pclose(p);
    const char *v = strstr(line, ") ");
    if (v == NULL)
        return 0;
    char *end = NULL;
    long major = strtol(v + 2, &end, 10);
    return end != v + 2 && major > 0 && major < 1000 ? (int)major : 0;
}

static bool executable(const char *path)
{
    return access(path, X_OK) == 0;
}

ferry_rc dr_tools_find(const char *pg_bin, dr_tools *out, ferry_err *err)
{
    memset(out, 0, sizeof(*out));
    char dir[400] = "";
    if (pg_bin != NULL && pg_bin[0] != '\0') {
        (void)snprintf(dir, sizeof(dir), "%s", pg_bin);
    } else {
        /* The newest installed major: pg_dump reads servers up to its own version. */
        DIR *d = opendir(PG_LIB_DIR);
        long best = 0;
        for (struct dirent *e = d != NULL ? readdir(d) : NULL; e != NULL; e = readdir(d)) {
            char *end = NULL;
            long v = strtol(e->d_name, &end, 10);
            char probe[400];
            (void)snprintf(probe, sizeof(probe), PG_LIB_DIR "/%s/bin/pg_dump", e->d_name);
            if (end != e->d_name && *end == '\0' && v > best && executable(probe)) {
                best = v;
                (void)snprintf(dir, sizeof(dir), PG_LIB_DIR "/%ld/bin", v);
            }
        }
        if (d != NULL)
            (void)closedir(d);
    }
    if (dir[0] != '\0') {
        (void)snprintf(out->pg_dump, sizeof(out->pg_dump), "%s/pg_dump", dir);
        (void)snprintf(out->pg_restore, sizeof(out->pg_restore), "%s/pg_restore", dir);
    } else {
        /* PATH: execve needs a path, so look it up once. */
        const char *path = getenv("PATH");
        for (const char *p = path != NULL ? path : "/usr/bin:/bin"; *p != '\0';) {
            size_t len = strcspn(p, ":");
            char probe[512];
            int n = snprintf(probe, sizeof(probe), "%.*s/pg_dump", (int)len, p);
            if (len > 0 && n > 0 && (size_t)n < sizeof(probe) && executable(probe)) {
                (void)snprintf(out->pg_dump, sizeof(out->pg_dump), "%s", probe);
                (void)snprintf(out->pg_restore, sizeof(out->pg_restore), "%.*s/pg_restore",
                               (int)len, p);
                break;
            }
            p += len;
            if (*p == ':')
                p++;
        }
    }
    if (out->pg_dump[0] == '\0' || !executable(out->pg_dump) || !executable(out->pg_restore))
        return ferry_err_set(err, FERRY_ERR_CONFIG,
                             "pg_dump and pg_restore not found%s%s (install postgresql-client "
                             "or set FERRY_DUMP_RESTORE_PG_BIN)",
                             dir[0] != '\0' ? " in " : "", dir);
    out->major = tool_major(out->pg_dump);
    if (out->major == 0)
        return ferry_err_set(err, FERRY_ERR_CONFIG, "cannot read the version of %s", out->pg_dump);
    return FERRY_OK;
}

ferry_rc dr_schema_dump(const dr_tools *tools, const dr_endpoint *src, const char *snapshot,
                        const char *path, const dr_stop *stop, ferry_err *err)
{
    char file_arg[600], db_arg[2100], snap_arg[128];
    int n1 = snprintf(file_arg, sizeof(file_arg), "--file=%s", path);
    int n2 = snprintf(db_arg, sizeof(db_arg), "--dbname=%s", src->conninfo);
    int n3 =
        snprintf(snap_arg, sizeof(snap_arg), "--snapshot=%s", snapshot != NULL ? snapshot : "");
    if (n1 < 0 || (size_t)n1 >= sizeof(file_arg) || n2 < 0 || (size_t)n2 >= sizeof(db_arg) ||
        n3 < 0 || (size_t)n3 >= sizeof(snap_arg))
        return ferry_err_set(err, FERRY_ERR_INVALID, "pg_dump: an argument is too long");
    const char *argv[] = {tools->pg_dump,
                          "--format=custom",
                          "--schema-only",
                          "--no-blobs",
                          "--no-subscriptions",
                          "--no-sync",
                          "--exclude-schema=_ferry",
                          file_arg,
                          db_arg,
                          snapshot != NULL ? snap_arg : NULL,
                          NULL};
    return run_tool("pg_dump (source schema)", argv, src->password, stop, err);
}

ferry_rc dr_schema_restore(const dr_tools *tools, const dr_endpoint *dst, const char *path,
                           const char *section, int jobs, const dr_stop *stop, ferry_err *err)
{
    char section_arg[64], db_arg[2100], jobs_arg[32], what[64];
    int n1 = snprintf(section_arg, sizeof(section_arg), "--section=%s", section);
    int n2 = snprintf(db_arg, sizeof(db_arg), "--dbname=%s", dst->conninfo);
    (void)snprintf(jobs_arg, sizeof(jobs_arg), "--jobs=%d", jobs > 1 ? jobs : 1);
    (void)snprintf(what, sizeof(what), "pg_restore (%s)", section);
    if (n1 < 0 || (size_t)n1 >= sizeof(section_arg) || n2 < 0 || (size_t)n2 >= sizeof(db_arg))
        return ferry_err_set(err, FERRY_ERR_INVALID, "pg_restore: an argument is too long");
    const char *argv[] = {tools->pg_restore,
                          "--no-tablespaces",
                          "--no-security-labels",
                          "--exit-on-error",
                          section_arg,
                          db_arg,
                          jobs > 1 ? jobs_arg : "--single-transaction",
                          path,
                          NULL};
    return run_tool(what, argv, dst->password, stop, err);
}
