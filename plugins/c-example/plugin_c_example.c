/*
 * plugin_c_example.c -- a siproxd-rs plugin written in C against
 * siproxd_plugin.h (see README in this directory for the build line).
 *
 *  init:        logs every plugin_c_example_note line (repeatable key),
 *               reads plugin_c_example_value (default "1").
 *  PRE_PROXY:   logs each request's method and Request-URI.
 *  POST_PROXY:  appends "X-C-Example: <value>" to each request.
 *  fini:        logs how many requests it tagged.
 */
#include <stdio.h>
#include <string.h>

#include "siproxd_plugin.h"

struct state {
    const spx_host_api *api;
    spx_host *h;
    spx_str value; /* borrowed from the host until fini */
    unsigned long tagged;
};

static struct state g;

static void logf_str(const char *what, spx_str a, spx_str b) {
    char line[512];
    int n = snprintf(line, sizeof line, "%s%.*s %.*s", what, (int)a.len, a.ptr, (int)b.len, b.ptr);
    if (n < 0) return;
    g.api->log(g.h, SPX_LOG_INFO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static int init(const spx_host_api *api, spx_host *h, void **st) {
    size_t i, notes;
    spx_str note, index;
    char num[32];
    if (!SPX_HOST_HAS(api, public_addr_set)) return SPX_ERROR; /* needs a 1.0 table */
    g.api = api;
    g.h = h;
    g.tagged = 0;
    if (api->config_get(h, "plugin_c_example_value", 0, &g.value) != SPX_OK) {
        g.value.ptr = "1";
        g.value.len = 1;
    }
    notes = api->config_count(h, "plugin_c_example_note");
    for (i = 0; i < notes; i++) {
        if (api->config_get(h, "plugin_c_example_note", i, &note) != SPX_OK) continue;
        index.len = (size_t)snprintf(num, sizeof num, "%lu:", (unsigned long)i);
        index.ptr = num;
        logf_str("init: note ", index, note);
    }
    *st = &g;
    return SPX_OK;
}

static int pre_proxy(spx_msg *m) {
    spx_str method, uri;
    if (g.api->msg_method(m, &method) != SPX_OK) return SPX_CONTINUE;
    if (g.api->uri_get(m, &uri) != SPX_OK) return SPX_CONTINUE;
    logf_str("", method, uri);
    return SPX_CONTINUE;
}

static int post_proxy(spx_msg *m) {
    if (g.api->header_insert(m, "X-C-Example", SPX_INDEX_END, g.value.ptr, g.value.len) == SPX_OK)
        g.tagged++;
    return SPX_CONTINUE;
}

static int process(void *st, uint32_t stage, spx_msg *m) {
    (void)st;
    if (m == NULL || g.api->msg_is_request(m) != 1) return SPX_CONTINUE;
    if (stage == SPX_STAGE_PRE_PROXY) return pre_proxy(m);
    if (stage == SPX_STAGE_POST_PROXY) return post_proxy(m);
    return SPX_CONTINUE;
}

static void fini(void *st) {
    char line[64];
    int n;
    (void)st;
    n = snprintf(line, sizeof line, "fini: tagged %lu requests", g.tagged);
    if (n > 0) g.api->log(g.h, SPX_LOG_INFO, line, (size_t)n);
}

SPX_DECLARE_PLUGIN = {
    sizeof(spx_plugin_desc),
    SPX_ABI_MAJOR,
    SPX_ABI_MINOR,
    "plugin_c_example",
    "C example: logs requests at PRE_PROXY, tags them at POST_PROXY",
    SPX_STAGE_PRE_PROXY | SPX_STAGE_POST_PROXY,
    0,
    init,
    process,
    fini,
};
