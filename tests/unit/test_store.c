/* Unit tests for store.c without a server: URLs, keys, error mapping, argument checks, the
 * embedded script. */
#include <string.h>

#include "ferry/state.h"
#include "ferry/store.h"
#include "ferry_lua_embedded.h"
#include "ferry_test.h"

static void url_parses_host_port_db(void)
{
    ferry_store_url u;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(ferry_store_url_parse("redis://127.0.0.1:16379/3", &u, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(u.host, "127.0.0.1");
    CU_ASSERT_EQUAL(u.port, 16379);
    CU_ASSERT_EQUAL(u.db, 3);
    CU_ASSERT_STRING_EQUAL(u.user, "");

    CU_ASSERT_EQUAL_FATAL(ferry_store_url_parse("REDIS://redis.internal", &u, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(u.host, "redis.internal");
    CU_ASSERT_EQUAL(u.port, 6379);
    CU_ASSERT_EQUAL(u.db, 0);

    CU_ASSERT_EQUAL_FATAL(ferry_store_url_parse("redis://h:1/", &u, &err), FERRY_OK);
    CU_ASSERT_EQUAL(u.port, 1);
    CU_ASSERT_EQUAL(u.db, 0);

    CU_ASSERT_EQUAL_FATAL(ferry_store_url_parse("redis://[::1]:7000/15", &u, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(u.host, "::1");
    CU_ASSERT_EQUAL(u.port, 7000);
    CU_ASSERT_EQUAL(u.db, 15);

    CU_ASSERT_EQUAL_FATAL(ferry_store_url_parse("redis://[fe80::1%eth0]", &u, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(u.host, "fe80::1%eth0");
    CU_ASSERT_EQUAL(u.port, 6379);

    CU_ASSERT_EQUAL_FATAL(ferry_store_url_parse("redis://ferry@h:6380/2", &u, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(u.user, "ferry");
    CU_ASSERT_STRING_EQUAL(u.host, "h");
    CU_ASSERT_EQUAL(u.port, 6380);
    CU_ASSERT_EQUAL(u.db, 2);
}

static void url_refuses_bad_input(void)
{
    static const char *const bad[] = {
        "",
        "http://h:1/0",
        "redis:/h",
        "redis://",
        "redis://:6379",
        "redis://h:",
        "redis://h:0",
        "redis://h:65536",
        "redis://h:12a",
        "redis://h:-1",
        "redis://h/x",
        "redis://h/1/2",
        "redis://h/-1",
        "redis://h/99999999999",
        "redis://h?db=1",
        "redis://h/0#frag",
        "redis://::1:6379",
        "redis://[::1",
        "redis://[::1]x",
        "redis://h h",
        "redis://@h",
        "redis://a b@h",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ferry_store_url u;
        ferry_err err;
        ferry_err_clear(&err);
        ferry_rc rc = ferry_store_url_parse(bad[i], &u, &err);
        if (rc != FERRY_ERR_INVALID)
            fprintf(stderr, "accepted or misjudged: '%s' (%d)\n", bad[i], (int)rc);
        CU_ASSERT_EQUAL(rc, FERRY_ERR_INVALID);
        CU_ASSERT_NOT_EQUAL(err.msg[0], '\0');
    }
    ferry_store_url u;
    ferry_err err;
    CU_ASSERT_EQUAL(ferry_store_url_parse(NULL, &u, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_store_url_parse("rediss://h:6379/0", &u, &err), FERRY_ERR_UNSUPPORTED);
}

static void url_with_password_is_refused_without_echo(void)
{
    static const char *const with_pw[] = {
        "redis://:hunter2-secret@127.0.0.1:6379/0",
        "redis://user:hunter2-secret@127.0.0.1:6379/0",
        "redis://user:@h/0",
    };
    for (size_t i = 0; i < sizeof(with_pw) / sizeof(with_pw[0]); i++) {
        ferry_store_url u;
        ferry_err err;
        CU_ASSERT_EQUAL(ferry_store_url_parse(with_pw[i], &u, &err), FERRY_ERR_INVALID);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "password"));
        CU_ASSERT_PTR_NULL(strstr(err.msg, "hunter2"));
    }
    /* Also through open(), which fails before any network use. */
    ferry_store *store = (ferry_store *)&store; /* must be reset to NULL */
    ferry_err err;
    CU_ASSERT_EQUAL(ferry_store_open(with_pw[0], "x", 1000, &store, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(store);
    CU_ASSERT_PTR_NULL(strstr(err.msg, "hunter2"));
}

static void open_checks_arguments(void)
{
    ferry_store *store = NULL;
    ferry_err err;
    CU_ASSERT_EQUAL(ferry_store_open("redis://h:1/0", NULL, 0, &store, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(store);
    CU_ASSERT_EQUAL(ferry_store_open("redis://h:1/0", NULL, 1000, NULL, &err), FERRY_ERR_INVALID);
    /* A user name without a password cannot AUTH. */
    CU_ASSERT_EQUAL(ferry_store_open("redis://u@h:1/0", "", 1000, &store, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(store);
    ferry_store_close(NULL);
}

static void keys_carry_the_hash_tag(void)
{
    char key[FERRY_STATE_KEY_MAX];
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(ferry_state_key("shop-production", "step:dr-1", key, sizeof(key), &err),
                          FERRY_OK);
    CU_ASSERT_STRING_EQUAL(key, "ferry:{shop-production}:step:dr-1");
    CU_ASSERT_EQUAL(ferry_state_key("m", "history", key, sizeof(key), &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(key, "ferry:{m}:history");

    CU_ASSERT_EQUAL(ferry_state_key("a{b", "x", key, sizeof(key), &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_state_key("a}b", "x", key, sizeof(key), &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_state_key("", "x", key, sizeof(key), &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_state_key(NULL, "x", key, sizeof(key), &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_state_key("a b", "x", key, sizeof(key), &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_state_key("a\nb", "x", key, sizeof(key), &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_state_key("m", "", key, sizeof(key), &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_state_key("m", "x{y}", key, sizeof(key), &err), FERRY_ERR_INVALID);

    char longest[FERRY_STORE_NAME_MAX + 2];
    memset(longest, 'a', sizeof(longest));
    longest[FERRY_STORE_NAME_MAX] = '\0';
    CU_ASSERT_EQUAL(ferry_state_key(longest, longest, key, sizeof(key), &err), FERRY_OK);
    longest[FERRY_STORE_NAME_MAX] = 'a';
    longest[FERRY_STORE_NAME_MAX + 1] = '\0';
    CU_ASSERT_EQUAL(ferry_state_key(longest, "x", key, sizeof(key), &err), FERRY_ERR_INVALID);

    char small[10];
    CU_ASSERT_EQUAL(ferry_state_key("migration", "x", small, sizeof(small), &err),
                    FERRY_ERR_INVALID);
}

static void redis_errors_map_to_codes(void)
{
    CU_ASSERT_EQUAL(ferry_store_error_rc("WRONGPASS invalid username-password pair"),
                    FERRY_ERR_AUTH);
    CU_ASSERT_EQUAL(ferry_store_error_rc("NOAUTH Authentication required."), FERRY_ERR_AUTH);
    CU_ASSERT_EQUAL(ferry_store_error_rc("NOPERM this user has no permissions"),
                    FERRY_ERR_PERMISSION);
    CU_ASSERT_EQUAL(ferry_store_error_rc("NOSCRIPT No matching script."), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(ferry_store_error_rc("NOGROUP No such key"), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(ferry_store_error_rc("BUSYGROUP Consumer Group name already exists"),
                    FERRY_ERR_CONFLICT);
    CU_ASSERT_EQUAL(ferry_store_error_rc("BUSY Redis is busy running a script."), FERRY_ERR_BUSY);
    CU_ASSERT_EQUAL(ferry_store_error_rc("LOADING Redis is loading the dataset in memory"),
                    FERRY_ERR_UNAVAILABLE);
    CU_ASSERT_EQUAL(ferry_store_error_rc("READONLY You can't write against a read only replica."),
                    FERRY_ERR_UNAVAILABLE);
    CU_ASSERT_EQUAL(ferry_store_error_rc("OOM command not allowed"), FERRY_ERR_NO_SPACE);
    CU_ASSERT_EQUAL(ferry_store_error_rc("MISCONF Errors writing to the AOF file"),
                    FERRY_ERR_SERVER);
    CU_ASSERT_EQUAL(ferry_store_error_rc("WRONGTYPE Operation against a key"), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_store_error_rc("CROSSSLOT Keys in request don't hash"),
                    FERRY_ERR_UNSUPPORTED);
    CU_ASSERT_EQUAL(ferry_store_error_rc("MOVED 3999 127.0.0.1:6381"), FERRY_ERR_UNSUPPORTED);
    CU_ASSERT_EQUAL(ferry_store_error_rc("ERR unknown command"), FERRY_ERR_PROTOCOL);
    CU_ASSERT_EQUAL(ferry_store_error_rc("BUSYX"), FERRY_ERR_PROTOCOL); /* whole word only */
    CU_ASSERT_EQUAL(ferry_store_error_rc(""), FERRY_ERR_PROTOCOL);
    CU_ASSERT_EQUAL(ferry_store_error_rc(NULL), FERRY_ERR_PROTOCOL);
}

/* A valid change, adjusted by each case below; checked before anything is sent, so a NULL store
 * reaches "no store" only when the change itself is fine. */
static const char *const from_absent[] = {FERRY_STATE_ABSENT};

static ferry_state_change good_change(void)
{
    ferry_state_change c = {
        .migration = "m-1",
        .entity = "step:dr-1",
        .from = from_absent,
        .n_from = 1,
        .expect_attempt = -1,
        .to = "pending",
        .new_attempt = 1,
        .actor = "coordinator",
        .what = "created",
    };
    return c;
}

static void expect_invalid(const ferry_state_change *c, const char *needle)
{
    ferry_err err;
    ferry_state_result res;
    ferry_err_clear(&err);
    CU_ASSERT_EQUAL(ferry_state_transition(NULL, c, &res, &err), FERRY_ERR_INVALID);
    if (strstr(err.msg, needle) == NULL)
        fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, needle);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, needle));
}

static void transition_checks_its_arguments(void)
{
    ferry_state_change c = good_change();
    expect_invalid(&c, "no store");
    expect_invalid(NULL, "no change");

    c = good_change();
    c.migration = "a{b}";
    expect_invalid(&c, "migration");
    c = good_change();
    c.entity = "";
    expect_invalid(&c, "entity");
    c = good_change();
    c.n_from = 0;
    expect_invalid(&c, "expected states");
    c = good_change();
    c.n_from = 17;
    expect_invalid(&c, "expected states");
    const char *const bad_from[] = {"pending", "run ning"};
    c = good_change();
    c.from = bad_from;
    c.n_from = 2;
    expect_invalid(&c, "expected state #2");
    c = good_change();
    c.to = FERRY_STATE_ABSENT;
    expect_invalid(&c, "new state");
    c = good_change();
    c.actor = NULL;
    expect_invalid(&c, "actor");
    c = good_change();
    c.expect_attempt = -2;
    expect_invalid(&c, "attempts");

    const ferry_store_field reserved[] = {{"reason", "x"}, {"state", "running"}};
    c = good_change();
    c.fields = reserved;
    c.n_fields = 2;
    expect_invalid(&c, "'state'");
    const ferry_store_field null_value[] = {{"reason", NULL}};
    c = good_change();
    c.fields = null_value;
    c.n_fields = 1;
    expect_invalid(&c, "field #1");
    c = good_change();
    c.fields = NULL;
    c.n_fields = 1;
    expect_invalid(&c, "extra fields");
}

static void helpers_accept_null(void)
{
    ferry_store_record_free(NULL);
    ferry_store_entries_free(NULL);
    CU_ASSERT_PTR_NULL(ferry_store_record_value(NULL, "state"));
    char n1[] = "state", v1[] = "running", n2[] = "attempt", v2[] = "2";
    ferry_store_pair pairs[] = {{n1, v1, sizeof(v1) - 1}, {n2, v2, sizeof(v2) - 1}};
    ferry_store_record rec = {.count = 2, .pairs = pairs};
    CU_ASSERT_STRING_EQUAL(ferry_store_record_value(&rec, "attempt"), "2");
    CU_ASSERT_PTR_NULL(ferry_store_record_value(&rec, "owner"));

    ferry_err err;
    ferry_store_entries *entries = (ferry_store_entries *)&entries;
    CU_ASSERT_EQUAL(ferry_store_group_read(NULL, "s", "g", "c", NULL, 1, 0, &entries, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(entries);
    ferry_store_record *got = (ferry_store_record *)&got;
    CU_ASSERT_EQUAL(ferry_state_record_get(NULL, "m", "e", &got, &err), FERRY_ERR_INVALID);
}

static void script_is_embedded(void)
{
    CU_ASSERT_TRUE(ferry_lua_count >= 1);
    /* The shebang makes Redis 7 admit or refuse the script whole (OOM); it must be line 1. */
    CU_ASSERT_EQUAL(strncmp(ferry_lua_transition, "#!lua\n", 6), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(ferry_lua_transition, "'XADD', events"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ferry_lua_transition, "'XADD', history"));
    /* Every write comes after the conflict return. */
    const char *conflict = strstr(ferry_lua_transition, "return {'conflict'");
    const char *first_write = strstr(ferry_lua_transition, "redis.call('HSET'");
    CU_ASSERT_PTR_NOT_NULL_FATAL(conflict);
    CU_ASSERT_PTR_NOT_NULL_FATAL(first_write);
    CU_ASSERT_TRUE(conflict < first_write);
}

static const ferry_test_case store_cases[] = {
    {"URL: host, port, db, IPv6, user", url_parses_host_port_db},
    {"URL: bad input refused", url_refuses_bad_input},
    {"URL: password refused, never echoed", url_with_password_is_refused_without_echo},
    {"open checks its arguments offline", open_checks_arguments},
    {"keys carry the migration hash tag", keys_carry_the_hash_tag},
    {"Redis error replies map to codes", redis_errors_map_to_codes},
    {"transition checks its arguments first", transition_checks_its_arguments},
    {"record and entry helpers", helpers_accept_null},
    {"transition script is embedded", script_is_embedded},
    {NULL, NULL},
};

static const ferry_test_suite suites[] = {
    {"store", NULL, NULL, store_cases},
    {NULL, NULL, NULL, NULL},
};

int main(void)
{
    return ferry_test_main(suites);
}
