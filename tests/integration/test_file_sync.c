/*
 * test_file_sync.c - ferry-file-sync against the stack's S3Proxy: a tree with odd names, empty
 * files and directories, streamed and multipart files synced and verified; an unchanged tree
 * costing no transfer; a changed file caught by the next pass; deletions only when enabled and
 * never after a pass with errors; kill -9 mid-pass and a resume without re-sending; a stop
 * aborting transfers promptly; errors (missing bucket, wrong key, missing source); verify
 * finding a changed object; an S3 source.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/s3.h"
#include "ferry_test.h"
#include "fs.h"
#include "manifest.h"

static ferry_s3 *s3;
static char bucket[64];
static char root[256]; /* the test's directory */

static int suite_setup(void)
{
    const ferry_cfg *cfg = ferry_test_cfg();
    if (cfg == NULL)
        return 1;
    ferry_s3_opts opts = {.endpoint = ferry_cfg_str(cfg, "s3.endpoint"),
                          .region = ferry_cfg_str(cfg, "s3.region"),
                          .access_key = ferry_cfg_str(cfg, "s3.access_key"),
                          .secret_key = ferry_cfg_str(cfg, "s3.secret_key"),
                          .timeout_ms = 120000};
    ferry_err err = {0};
    if (ferry_s3_new(&opts, &s3, &err) != FERRY_OK) {
        fprintf(stderr, "ferry_s3_new: %s\n", err.msg);
        return 1;
    }
    (void)snprintf(bucket, sizeof(bucket), "%s", ferry_test_unique("ferry-fs-it"));
    if (ferry_s3_bucket_create(s3, bucket, &err) != FERRY_OK) {
        fprintf(stderr, "creating bucket %s: %s\n", bucket, err.msg);
        return 1;
    }
    (void)snprintf(root, sizeof(root), "/tmp/ferry-fs-it-%d", (int)getpid());
    if (mkdir(root, 0755) != 0 && errno != EEXIST)
        return 1;
    return 0;
}

static int suite_teardown(void)
{
    char cmd[400];
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    ferry_s3_free(s3);
    s3 = NULL;
    return 0;
}

/* ---- helpers -------------------------------------------------------------------------------*/

static void path_of(char *out, size_t outsz, const char *tree, const char *rel)
{
    (void)snprintf(out, outsz, "%s/%s/%s", root, tree, rel);
}

/* Creates every directory of path's parent. */
static void mkdirs_for(const char *path)
{
    char tmp[1024];
    (void)snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            (void)mkdir(tmp, 0755);
            *p = '/';
        }
    }
}

/* Writes len deterministic bytes (seeded) to tree/rel. */
static void write_file(const char *tree, const char *rel, size_t len, unsigned seed)
{
    char path[1024];
    path_of(path, sizeof(path), tree, rel);
    mkdirs_for(path);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    unsigned x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        (void)fputc((int)(x >> 16) & 0xff, f);
    }
    CU_ASSERT_EQUAL(fclose(f), 0);
}

static void set_mtime(const char *tree, const char *rel, time_t when)
{
    char path[1024];
    path_of(path, sizeof(path), tree, rel);
    struct timespec ts[2] = {{.tv_sec = when}, {.tv_sec = when}};
    CU_ASSERT_EQUAL(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static filesync_options options_for(const char *tree, const char *prefix)
{
    static char dirs[8][512];
    static int next;
    const ferry_cfg *cfg = ferry_test_cfg();
    char *dir = dirs[next++ % 8];
    (void)snprintf(dir, 512, "%s/%s", root, tree);
    filesync_options o = {.source = {.dir = dir},
                          .target = {.endpoint = ferry_cfg_str(cfg, "s3.endpoint"),
                                     .region = ferry_cfg_str(cfg, "s3.region"),
                                     .bucket = bucket,
                                     .prefix = prefix,
                                     .access_key = ferry_cfg_str(cfg, "s3.access_key"),
                                     .secret_key = ferry_cfg_str(cfg, "s3.secret_key")},
                          .concurrency = 8,
                          .multipart_threshold = 6 * 1024 * 1024,
                          .part_size = 5 * 1024 * 1024};
    return o;
}

/* Reads a whole local file; caller frees. */
static unsigned char *slurp(const char *tree, const char *rel, size_t *len)
{
    char path[1024];
    path_of(path, sizeof(path), tree, rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    (void)fseek(f, 0, SEEK_END);
    long n = ftell(f);
    (void)fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    (void)fclose(f);
    return buf;
}

/* The target object prefix+rel equals the local file tree/rel, byte for byte. */
static void assert_same_object(const char *tree, const char *prefix, const char *rel)
{
    char key[1200];
    (void)snprintf(key, sizeof(key), "%s%s", prefix, rel);
    size_t want_len = 0, got_len = 0;
    unsigned char *want = slurp(tree, rel, &want_len);
    void *got = NULL;
    ferry_err err = {0};
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    CU_ASSERT_EQUAL_FATAL(ferry_s3_object_get(s3, bucket, key, &got, &got_len, &err), FERRY_OK);
    CU_ASSERT_EQUAL(got_len, want_len);
    CU_ASSERT(got_len == want_len && memcmp(got, want, want_len) == 0);
    free(want);
    free(got);
}

static bool object_exists(const char *key)
{
    ferry_s3_object info;
    ferry_err err = {0};
    return ferry_s3_object_head(s3, bucket, key, &info, &err) == FERRY_OK;
}

static ferry_rc run_pass(const filesync_options *o, filesync_report *r, ferry_err *err)
{
    filesync_report_init(r);
    memset(err, 0, sizeof(*err));
    ferry_rc rc = filesync_pass(o, r, err);
    if (rc != FERRY_OK)
        fprintf(stderr, "\npass: %s: %s\n", ferry_rc_str(rc), err->msg);
    return rc;
}

/* Counts the objects under prefix. */
static size_t count_objects(const char *prefix)
{
    size_t n = 0;
    char *token = NULL;
    ferry_err err = {0};
    do {
        ferry_s3_list page = {0};
        ferry_s3_list_opts lo = {.prefix = prefix, .continuation_token = token};
        if (ferry_s3_object_list(s3, bucket, &lo, &page, &err) != FERRY_OK)
            break;
        n += page.count;
        free(token);
        token = page.next_token != NULL ? strdup(page.next_token) : NULL;
        ferry_s3_list_cleanup(&page);
    } while (token != NULL);
    free(token);
    return n;
}

/* ---- the tree with everything ---------------------------------------------------------------*/

static const char *const odd_names[] = {
    "with space.txt",       "plus+equals=and&amp.txt",     "percent%20literal.txt",
    "question?hash#.txt",   "ünïcödé/日本語 ファイル.txt", "quote's \"double\".txt",
    "semi;colon,comma.txt", "tilde~dollar$at@.txt",        "(paren) [bracket] {brace}.txt",
};

static void tree_everything(void)
{
    for (int i = 0; i < 40; i++) {
        char rel[64];
        (void)snprintf(rel, sizeof(rel), "d%d/f%d.bin", i % 5, i);
        write_file("t1", rel, (size_t)(100 + i * 97), (unsigned)i);
    }
    for (size_t i = 0; i < sizeof(odd_names) / sizeof(odd_names[0]); i++)
        write_file("t1", odd_names[i], 10 + i, (unsigned)(100 + i));
    write_file("t1", "empty-file", 0, 1);
    write_file("t1", "streamed/two-megabytes.bin", 2 * 1024 * 1024 + 17, 7);
    write_file("t1", "multipart/twelve-megabytes.bin", 12 * 1024 * 1024 + 3, 8);
    char path[1024];
    path_of(path, sizeof(path), "t1", "empty-dir/nested-empty");
    mkdirs_for(path);
    CU_ASSERT_EQUAL(mkdir(path, 0755), 0);
    /* a symlink is not followed: it is skipped and said so */
    path_of(path, sizeof(path), "t1", "link-to-passwd");
    CU_ASSERT_EQUAL(symlink("/etc/passwd", path), 0);
}

static void pass_syncs_everything_and_verifies(void)
{
    tree_everything();
    filesync_options o = options_for("t1", "app/files/");
    filesync_report r;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(run_pass(&o, &r, &err), FERRY_OK);
    size_t n_odd = sizeof(odd_names) / sizeof(odd_names[0]);
    /* 40 + odd + empty file + streamed + multipart + one marker (empty-dir/nested-empty/) */
    CU_ASSERT_EQUAL(r.files, 40 + n_odd + 4);
    CU_ASSERT_EQUAL(r.uploaded, r.files);
    CU_ASSERT_EQUAL(r.skipped, 1); /* the symlink */
    CU_ASSERT_EQUAL(r.errors, 0);
    filesync_report_cleanup(&r);

    for (size_t i = 0; i < n_odd; i++)
        assert_same_object("t1", "app/files/", odd_names[i]);
    assert_same_object("t1", "app/files/", "empty-file");
    assert_same_object("t1", "app/files/", "streamed/two-megabytes.bin");
    assert_same_object("t1", "app/files/", "multipart/twelve-megabytes.bin");
    /* S3Proxy answers HEAD of a "dir/" key 404: look in the listing */
    CU_ASSERT_EQUAL(count_objects("app/files/empty-dir/"), 1); /* only the nested marker */
    CU_ASSERT_EQUAL(count_objects("app/files/empty-dir/nested-empty/"), 1);
    CU_ASSERT(!object_exists("app/files/link-to-passwd"));
    /* the manifest lives outside the app's prefix */
    CU_ASSERT(object_exists(".ferry/app/files/manifest.v1"));

    filesync_report_init(&r);
    CU_ASSERT_EQUAL(filesync_verify(&o, &r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(r.verified, 1);
    CU_ASSERT_EQUAL(r.n_missing, 0);
    CU_ASSERT_EQUAL(r.n_different, 0);
    filesync_report_cleanup(&r);
}

static void unchanged_tree_sends_nothing(void)
{
    filesync_options o = options_for("t1", "app/files/");
    filesync_report r;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(run_pass(&o, &r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(r.uploaded, 0);
    CU_ASSERT_EQUAL(r.requests, 0); /* two listings and the manifest: no transfer at all */
    CU_ASSERT_EQUAL(r.unchanged, r.files);
    CU_ASSERT_EQUAL(r.hashed_bytes, 0); /* and no re-hash */
    CU_ASSERT(!r.target_listed);        /* the complete manifest vouches for the target */
    filesync_report_cleanup(&r);
}

static void changed_file_is_sent_alone(void)
{
    /* same size, other content, another time: only the time and the manifest tell */
    write_file("t1", "d1/f1.bin", 100 + 97, 999);
    set_mtime("t1", "d1/f1.bin", time(NULL) + 5);
    filesync_options o = options_for("t1", "app/files/");
    filesync_report r;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(run_pass(&o, &r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(r.uploaded, 1);
    CU_ASSERT_EQUAL(r.unchanged, r.files - 1);
    filesync_report_cleanup(&r);
    assert_same_object("t1", "app/files/", "d1/f1.bin");
}

/* The manifest's text, or NULL when there is none (caller frees). */
static char *manifest_text(const char *prefix)
{
    char *key = filesync_manifest_key(prefix);
    void *data = NULL;
    size_t len = 0;
    ferry_err err = {0};
    if (key == NULL || ferry_s3_object_get(s3, bucket, key, &data, &len, &err) != FERRY_OK) {
        free(key);
        return NULL;
    }
    free(key);
    char *text = realloc(data, len + 1);
    if (text == NULL) {
        free(data);
        return NULL;
    }
    text[len] = '\0';
    return text;
}

/* An attempt older than the manifest's last writer (a worker that stalled past its lease while
 * the next attempt ran) sends nothing and leaves the manifest as the newer attempt wrote it;
 * a newer one goes on. */
static void older_attempt_does_not_overwrite_manifest(void)
{
    write_file("t9", "a.txt", 300, 1);
    write_file("t9", "b.txt", 400, 2);
    filesync_options o = options_for("t9", "fence/");
    filesync_report r;
    ferry_err err;
    o.generation = 2000;
    CU_ASSERT_EQUAL_FATAL(run_pass(&o, &r, &err), FERRY_OK);
    filesync_report_cleanup(&r);
    char *before = manifest_text("fence/");
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);

    write_file("t9", "b.txt", 500, 3);
    set_mtime("t9", "b.txt", time(NULL) + 5);
    o.generation = 1000;
    filesync_report_init(&r);
    CU_ASSERT_EQUAL(filesync_pass(&o, &r, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "newer attempt"));
    CU_ASSERT_EQUAL(r.uploaded, 0);
    filesync_report_cleanup(&r);
    char *after = manifest_text("fence/");
    CU_ASSERT_TRUE(after != NULL && strcmp(before, after) == 0);
    free(after);

    /* The fence at the end too: a pass that was fenced out after it began writes nothing. */
    char *key = filesync_manifest_key("fence/");
    CU_ASSERT_PTR_NOT_NULL_FATAL(key);
    filesync_manifest m = {0};
    CU_ASSERT_EQUAL(filesync_manifest_save(s3, bucket, key, "elsewhere", &m, 1500, &err),
                    FERRY_ERR_CONFLICT);
    after = manifest_text("fence/");
    CU_ASSERT_TRUE(after != NULL && strcmp(before, after) == 0);
    free(after);
    free(key);
    free(before);

    o.generation = 3000;
    CU_ASSERT_EQUAL(run_pass(&o, &r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(r.uploaded, 1);
    filesync_report_cleanup(&r);
    assert_same_object("t9", "fence/", "b.txt");
}

/* Once the transfers start (after the walk), a directory of the tree is swapped for a symlink
 * to a directory outside it that holds a file of the same name. */
static void swap_on_progress(void *ud, const filesync_progress *p)
{
    bool *done = ud;
    if (*done || strcmp(p->phase, "transferring") != 0)
        return;
    *done = true;
    char sub[600], moved[600], outside[600];
    path_of(sub, sizeof(sub), "t10", "sub");
    path_of(moved, sizeof(moved), "t10", "sub.moved");
    path_of(outside, sizeof(outside), "outside10", "");
    CU_ASSERT_EQUAL(rename(sub, moved), 0);
    CU_ASSERT_EQUAL(symlink(outside, sub), 0);
}

/* Files are opened below the walked directory as the walk reached it: a directory swapped for
 * a symlink after the walk is not followed out of the tree. */
static void swapped_directory_is_not_followed(void)
{
    write_file("t10", "top.txt", 500, 10);
    write_file("t10", "sub/data.txt", 1000, 11);
    write_file("outside10", "data.txt", 1000, 77); /* what must never be sent */
    bool swapped = false;
    filesync_options o = options_for("t10", "swap/");
    o.progress = swap_on_progress;
    o.progress_ud = &swapped;
    filesync_report r;
    ferry_err err;
    filesync_report_init(&r);
    ferry_rc rc = filesync_pass(&o, &r, &err);
    CU_ASSERT_TRUE(swapped);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_IO);
    CU_ASSERT_EQUAL(r.errors, 1);
    CU_ASSERT_TRUE(r.first_error != NULL && strstr(r.first_error, "sub/data.txt") != NULL);
    filesync_report_cleanup(&r);
    CU_ASSERT_FALSE(object_exists("swap/sub/data.txt"));
    assert_same_object("t10", "swap/", "top.txt");

    char sub[600], moved[600];
    path_of(sub, sizeof(sub), "t10", "sub");
    path_of(moved, sizeof(moved), "t10", "sub.moved");
    CU_ASSERT_EQUAL(unlink(sub), 0);
    CU_ASSERT_EQUAL(rename(moved, sub), 0);
}

/* The progress callback changes a file once the transfers run: whether it was sent before or
 * after the change, the next pass leaves the target with the new content. */
typedef struct change_ctx {
    bool done;
} change_ctx;

static void change_on_progress(void *ud, const filesync_progress *p)
{
    change_ctx *c = ud;
    if (c->done || strcmp(p->phase, "transferring") != 0)
        return;
    c->done = true;
    write_file("t2", "k/changing.bin", 300000, 42);
}

static void file_changed_during_pass_is_caught_next(void)
{
    for (int i = 0; i < 200; i++) {
        char rel[64];
        (void)snprintf(rel, sizeof(rel), "k/f%03d.bin", i);
        write_file("t2", rel, 20000, (unsigned)i);
    }
    write_file("t2", "k/changing.bin", 300000, 41);
    change_ctx c = {0};
    filesync_options o = options_for("t2", "changing/");
    o.progress = change_on_progress;
    o.progress_ud = &c;
    filesync_report r;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(run_pass(&o, &r, &err), FERRY_OK);
    CU_ASSERT(c.done);
    filesync_report_cleanup(&r);
    o.progress = NULL;
    CU_ASSERT_EQUAL_FATAL(run_pass(&o, &r, &err), FERRY_OK);
    filesync_report_cleanup(&r);
    assert_same_object("t2", "changing/", "k/changing.bin");
    filesync_report_init(&r);
    CU_ASSERT_EQUAL(filesync_verify(&o, &r, &err), FERRY_OK);
    filesync_report_cleanup(&r);
}

static void deletions_only_when_enabled(void)
{
    char path[1024];
    path_of(path, sizeof(path), "t1", "d2/f2.bin");
    CU_ASSERT_EQUAL_FATAL(unlink(path), 0);
    filesync_options o = options_for("t1", "app/files/");
    filesync_report r;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(run_pass(&o, &r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(r.extra, 1);
    CU_ASSERT_EQUAL(r.deleted, 0);
    filesync_report_cleanup(&r);
    CU_ASSERT(object_exists("app/files/d2/f2.bin"));

    o.delete_extra = true;
    CU_ASSERT_EQUAL_FATAL(run_pass(&o, &r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(r.deleted, 1);
    filesync_report_cleanup(&r);
    CU_ASSERT(!object_exists("app/files/d2/f2.bin"));
}

/* Runs the command line as user nobody, so that a mode-000 file cannot be read (root reads
 * everything). Returns its exit status. */
static int run_cli_as_nobody(const char *args)
{
    char cmd[2048];
    (void)snprintf(cmd, sizeof(cmd),
                   "setpriv --reuid=65534 --regid=65534 --clear-groups %s %s >/dev/null 2>&1",
                   FERRY_FS_BIN, args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void no_deletions_after_a_pass_with_errors(void)
{
    write_file("t3", "a/readable.txt", 10, 1);
    write_file("t3", "a/secret.txt", 10, 2);
    write_file("t3", "a/to-delete.txt", 10, 3);
    char dir[600], path[1024], args[1400];
    (void)snprintf(dir, sizeof(dir), "%s/t3", root);
    (void)chmod(root, 0755);
    (void)snprintf(args, sizeof(args), "sync --source %s --target s3://%s/errs/ --delete", dir,
                   bucket);
    CU_ASSERT_EQUAL_FATAL(run_cli_as_nobody(args), 0);
    CU_ASSERT(object_exists("errs/a/to-delete.txt"));

    path_of(path, sizeof(path), "t3", "a/to-delete.txt");
    CU_ASSERT_EQUAL(unlink(path), 0);
    path_of(path, sizeof(path), "t3", "a/secret.txt");
    write_file("t3", "a/secret.txt", 11, 5); /* changed, and now unreadable */
    CU_ASSERT_EQUAL(chmod(path, 0), 0);
    CU_ASSERT_EQUAL(run_cli_as_nobody(args), 1);      /* the pass had an error */
    CU_ASSERT(object_exists("errs/a/to-delete.txt")); /* so nothing was deleted */
    CU_ASSERT_EQUAL(chmod(path, 0644), 0);
    CU_ASSERT_EQUAL(run_cli_as_nobody(args), 0); /* a clean pass deletes */
    CU_ASSERT(!object_exists("errs/a/to-delete.txt"));
    assert_same_object("t3", "errs/", "a/secret.txt");
}

static void killed_pass_resumes_without_resending(void)
{
    const int files = 3000;
    for (int i = 0; i < files; i++) {
        char rel[64];
        (void)snprintf(rel, sizeof(rel), "r/%02d/f%04d.bin", i % 30, i);
        write_file("t4", rel, 8192, (unsigned)i);
    }
    char dir[600];
    (void)snprintf(dir, sizeof(dir), "%s/t4", root);
    char target[200];
    (void)snprintf(target, sizeof(target), "s3://%s/killed/", bucket);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        (void)dup2(null, 1);
        (void)dup2(null, 2);
        execl(FERRY_FS_BIN, FERRY_FS_BIN, "sync", "--source", dir, "--target", target,
              "--concurrency", "4", (char *)NULL);
        _exit(127);
    }
    /* Kill it once a good part, not all, is there. */
    size_t there = 0;
    int64_t deadline = ferry_mono_ms() + 60000;
    while (ferry_mono_ms() < deadline) {
        there = count_objects("killed/");
        if (there >= (size_t)files / 4)
            break;
        ferry_sleep_ms(20);
    }
    CU_ASSERT_EQUAL(kill(pid, SIGKILL), 0);
    int st = 0;
    (void)waitpid(pid, &st, 0);
    CU_ASSERT(WIFSIGNALED(st));
    there = count_objects("killed/");
    CU_ASSERT(there > 0 && there < (size_t)files);

    filesync_options o = options_for("t4", "killed/");
    filesync_report r;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(run_pass(&o, &r, &err), FERRY_OK);
    /* every file there before the kill was kept (recorded or checked by hash), not re-sent */
    CU_ASSERT(r.uploaded <= (uint64_t)files - there);
    CU_ASSERT_EQUAL(r.uploaded + r.unchanged + r.adopted, (uint64_t)files);
    filesync_report_cleanup(&r);
    filesync_report_init(&r);
    CU_ASSERT_EQUAL(filesync_verify(&o, &r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(r.verified, 1);
    filesync_report_cleanup(&r);
}

typedef struct stop_at {
    int64_t at;
} stop_at;

static bool stop_after(void *ud)
{
    return ferry_mono_ms() >= ((stop_at *)ud)->at;
}

static void stop_aborts_transfers_promptly(void)
{
    /* Large enough to take seconds: 4 x 40 MB in 5 MB parts. */
    for (int i = 0; i < 4; i++) {
        char rel[64];
        (void)snprintf(rel, sizeof(rel), "big-%d.bin", i);
        write_file("t5", rel, 40 * 1024 * 1024, (unsigned)i);
    }
    filesync_options o = options_for("t5", "stopped/");
    o.concurrency = 2;
    stop_at s = {.at = ferry_mono_ms() + 300};
    o.stopping = stop_after;
    o.stop_ud = &s;
    filesync_report r;
    ferry_err err;
    ferry_rc rc = run_pass(&o, &r, &err);
    int64_t late = ferry_mono_ms() - s.at;
    CU_ASSERT_EQUAL(rc, FERRY_ERR_CANCELLED);
    CU_ASSERT(late < 2000);
    filesync_report_cleanup(&r);
}

static void empty_tree_to_empty_prefix(void)
{
    char path[1024];
    path_of(path, sizeof(path), "t6", "");
    mkdirs_for(path);
    filesync_options o = options_for("t6", "nothing-here/");
    filesync_report r;
    ferry_err err;
    CU_ASSERT_EQUAL(run_pass(&o, &r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(r.files, 0);
    CU_ASSERT_EQUAL(r.uploaded, 0);
    filesync_report_cleanup(&r);
    filesync_report_init(&r);
    CU_ASSERT_EQUAL(filesync_verify(&o, &r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(r.verified, 1);
    filesync_report_cleanup(&r);
}

/* ---- a throttling relay ---------------------------------------------------------------------
 * A TCP relay in front of S3Proxy (so signatures stay valid: the bytes pass unchanged) that
 * answers the first request of some connections itself: 503 SlowDown, or 500 InternalError,
 * and closes. What S3 does under load; S3Proxy never does it. */

typedef struct relay {
    int listen_fd;
    int port;
    int upstream_port;
    int refuse_first; /* connections answered with an error, one of every refuse_every */
    int refuse_every;
    int n_conn, n_refused;
    volatile bool stop;
    pthread_t thread;
} relay;

static void relay_pump(int a, int b)
{
    char buf[65536];
    struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, 5000) <= 0)
            return;
        for (int i = 0; i < 2; i++) {
            if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof(buf));
            if (n <= 0)
                return;
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(p[1 - i].fd, buf + off, (size_t)(n - off));
                if (w <= 0)
                    return;
                off += w;
            }
        }
    }
}

typedef struct relay_conn {
    relay *r;
    int fd;
    bool refuse;
    int kind;
} relay_conn;

static void *relay_conn_main(void *ud)
{
    relay_conn *c = ud;
    if (c->refuse) {
        char head[8192];
        ssize_t n = read(c->fd, head, sizeof(head)); /* the request line and headers */
        (void)n;
        const char *reply =
            c->kind == 0
                ? "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\n"
                  "Content-Length: "
                  "60\r\n\r\n<Error><Code>SlowDown</Code><Message>x</Message></Error>"
                  "     "
                : "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\n"
                  "Connection: close\r\nContent-Length: 65\r\n\r\n<Error><Code>InternalError"
                  "</Code><Message>x</Message></Error>     ";
        ssize_t w = write(c->fd, reply, strlen(reply));
        (void)w;
        (void)shutdown(c->fd, SHUT_RDWR);
    } else {
        int up = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)c->r->upstream_port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (up >= 0 && connect(up, (struct sockaddr *)&a, sizeof(a)) == 0)
            relay_pump(c->fd, up);
        if (up >= 0)
            (void)close(up);
    }
    (void)close(c->fd);
    free(c);
    return NULL;
}

static void *relay_main(void *ud)
{
    relay *r = ud;
    while (!r->stop) {
        struct pollfd p = {.fd = r->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(r->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        relay_conn *c = calloc(1, sizeof(*c));
        c->r = r;
        c->fd = fd;
        r->n_conn++;
        c->refuse = r->n_refused < r->refuse_first && r->n_conn % r->refuse_every == 1;
        if (c->refuse)
            c->kind = r->n_refused++ % 2;
        pthread_t t;
        if (pthread_create(&t, NULL, relay_conn_main, c) == 0)
            (void)pthread_detach(t);
        else
            relay_conn_main(c);
    }
    return NULL;
}

static bool relay_start(relay *r, const char *upstream_endpoint)
{
    const char *colon = strrchr(upstream_endpoint, ':');
    r->upstream_port = colon != NULL ? (int)strtol(colon + 1, NULL, 10) : 80;
    r->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (r->listen_fd < 0 || bind(r->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(r->listen_fd, 64) != 0 ||
        getsockname(r->listen_fd, (struct sockaddr *)&a, &len) != 0)
        return false;
    r->port = ntohs(a.sin_port);
    return pthread_create(&r->thread, NULL, relay_main, r) == 0;
}

static void relay_stop(relay *r)
{
    r->stop = true;
    (void)pthread_join(r->thread, NULL);
    (void)close(r->listen_fd);
}

static void throttling_and_server_errors_are_retried(void)
{
    for (int i = 0; i < 60; i++) {
        char rel[64];
        (void)snprintf(rel, sizeof(rel), "t/f%02d.bin", i);
        write_file("t7", rel, 3000 + (size_t)i, (unsigned)i);
    }
    relay r = {.refuse_first = 8, .refuse_every = 3};
    CU_ASSERT_FATAL(relay_start(&r, ferry_cfg_str(ferry_test_cfg(), "s3.endpoint")));
    char endpoint[64];
    (void)snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", r.port);
    filesync_options o = options_for("t7", "throttled/");
    o.target.endpoint = endpoint;
    filesync_report rep;
    ferry_err err;
    ferry_rc rc = run_pass(&o, &rep, &err);
    relay_stop(&r);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    CU_ASSERT(r.n_refused >= 2);
    CU_ASSERT(rep.retries >= 1);
    CU_ASSERT_EQUAL(rep.uploaded, 60);
    CU_ASSERT_EQUAL(rep.errors, 0);
    filesync_report_cleanup(&rep);
    o = options_for("t7", "throttled/");
    filesync_report_init(&rep);
    CU_ASSERT_EQUAL(filesync_verify(&o, &rep, &err), FERRY_OK);
    filesync_report_cleanup(&rep);
}

static void errors_are_clear(void)
{
    const ferry_cfg *cfg = ferry_test_cfg();
    filesync_report r;
    ferry_err err;
    /* a missing bucket */
    filesync_options o = options_for("t1", "x/");
    o.target.bucket = "ferry-fs-no-such-bucket";
    CU_ASSERT_EQUAL(run_pass(&o, &r, &err), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "NoSuchBucket"));
    filesync_report_cleanup(&r);
    /* a wrong secret key: AUTH, and the key is nowhere in the message */
    o = options_for("t1", "x/");
    const char *wrong = "wrong-secret-0123456789abcdefXYZ";
    o.target.secret_key = wrong;
    CU_ASSERT_EQUAL(run_pass(&o, &r, &err), FERRY_ERR_AUTH);
    CU_ASSERT_PTR_NULL(strstr(err.msg, wrong));
    CU_ASSERT_PTR_NULL(strstr(err.msg, ferry_cfg_str(cfg, "s3.secret_key")));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "SignatureDoesNotMatch"));
    filesync_report_cleanup(&r);
    /* a missing source directory */
    o = options_for("no-such-tree", "x/");
    CU_ASSERT_EQUAL(run_pass(&o, &r, &err), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no-such-tree"));
    filesync_report_cleanup(&r);
}

static void verify_finds_a_changed_object(void)
{
    filesync_options o = options_for("t1", "app/files/");
    ferry_err err = {0};
    /* same size, other bytes, written behind Ferry's back */
    size_t len = 0;
    unsigned char *data = slurp("t1", "d3/f3.bin", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    data[0] ^= 0xff;
    CU_ASSERT_EQUAL(ferry_s3_object_put(s3, bucket, "app/files/d3/f3.bin", data, len, NULL, &err),
                    FERRY_OK);
    free(data);
    filesync_report r;
    filesync_report_init(&r);
    CU_ASSERT_EQUAL(filesync_verify(&o, &r, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT_EQUAL(r.verified, 0);
    CU_ASSERT_EQUAL(r.n_different, 1);
    CU_ASSERT(r.differences != NULL && strstr(r.differences, "d3/f3.bin") != NULL);
    filesync_report_cleanup(&r);
    /* verify withdrew the manifest's word: the next pass lists the target, sees the ETag is
     * not the recorded one, and sends the file again */
    CU_ASSERT_EQUAL_FATAL(run_pass(&o, &r, &err), FERRY_OK);
    CU_ASSERT(r.target_listed);
    CU_ASSERT_EQUAL(r.uploaded, 1);
    filesync_report_cleanup(&r);
    assert_same_object("t1", "app/files/", "d3/f3.bin");
}

static void s3_source_to_s3_target(void)
{
    /* the source: what the first test synced, read back through S3 */
    const ferry_cfg *cfg = ferry_test_cfg();
    filesync_options o = options_for("t1", "copy/");
    o.source = (filesync_location){.endpoint = ferry_cfg_str(cfg, "s3.endpoint"),
                                   .region = ferry_cfg_str(cfg, "s3.region"),
                                   .bucket = bucket,
                                   .prefix = "app/files/",
                                   .access_key = ferry_cfg_str(cfg, "s3.access_key"),
                                   .secret_key = ferry_cfg_str(cfg, "s3.secret_key")};
    filesync_report r;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(run_pass(&o, &r, &err), FERRY_OK);
    CU_ASSERT(r.uploaded > 0);
    CU_ASSERT_EQUAL(r.uploaded, r.files);
    filesync_report_cleanup(&r);
    assert_same_object("t1", "copy/", "multipart/twelve-megabytes.bin");
    assert_same_object("t1", "copy/", odd_names[4]);
    CU_ASSERT_EQUAL_FATAL(run_pass(&o, &r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(r.uploaded, 0);
    filesync_report_cleanup(&r);
    filesync_report_init(&r);
    CU_ASSERT_EQUAL(filesync_verify(&o, &r, &err), FERRY_OK);
    filesync_report_cleanup(&r);
}

int main(void)
{
    static const ferry_test_case cases[] = {
        {"a pass syncs odd names, empty files and directories, streamed and multipart files",
         pass_syncs_everything_and_verifies},
        {"an unchanged tree sends nothing and reads nothing", unchanged_tree_sends_nothing},
        {"a changed file is sent alone", changed_file_is_sent_alone},
        {"a directory swapped for a symlink after the walk is not followed",
         swapped_directory_is_not_followed},
        {"an older attempt does not write over a newer attempt's manifest",
         older_attempt_does_not_overwrite_manifest},
        {"a file changed during a pass is right after the next",
         file_changed_during_pass_is_caught_next},
        {"deletions propagate only when enabled", deletions_only_when_enabled},
        {"no deletions after a pass with errors", no_deletions_after_a_pass_with_errors},
        {"kill -9 mid-pass, then a pass that does not send again what was there",
         killed_pass_resumes_without_resending},
        {"a stop aborts transfers promptly", stop_aborts_transfers_promptly},
        {"an empty tree to an empty prefix", empty_tree_to_empty_prefix},
        {"errors: missing bucket, wrong key, missing source", errors_are_clear},
        {"throttling and server errors are sent again", throttling_and_server_errors_are_retried},
        {"verify finds an object changed behind Ferry's back", verify_finds_a_changed_object},
        {"an S3 source", s3_source_to_s3_target},
        {NULL, NULL},
    };
    const ferry_test_suite suites[] = {
        {"file-sync against S3Proxy", suite_setup, suite_teardown, cases},
        {NULL, NULL, NULL, NULL},
    };
    return ferry_test_main(suites);
}
