/*
 * siproxd_plugin.h -- the stable C ABI between siproxd-rs and its plugins.
 *
 * ABI major 1, minor 1.  This header is the contract: the Rust SDK (crate
 * siproxd-plugin-api, lib "spx") mirrors it and a test keeps the two equal.
 *
 * A plugin is a shared object exporting ONE data symbol, the descriptor
 * `siproxd_plugin_v1` (the ABI major is part of the name).  The daemon reads
 * and checks the descriptor before running any plugin code, then calls
 * init(), process() for the stages the plugin asked for, and fini() at
 * shutdown (reverse load order).  Plugins are never unloaded.
 *
 * Rules (see plugin-api/README.md for the long form):
 *  - Strings are borrowed (pointer, length) pairs, not NUL-terminated, not
 *    guaranteed UTF-8.  Message data the host hands out is valid until
 *    process() returns or the next call that edits the message, whichever
 *    comes first; config values and host_version until fini().
 *    What a plugin passes in is copied before the call returns.
 *  - Nothing is freed across the boundary; there are no allocator functions.
 *  - init/process/fini of all plugins run on one thread, never concurrently
 *    and never re-entrantly.  Only log() may be called from other threads.
 *  - Structs only grow at the end.  Check SPX_HOST_HAS() before calling a
 *    host function newer than the minor your descriptor asks for.
 *
 * Valid C99 and C++.
 */
#ifndef SIPROXD_PLUGIN_H
#define SIPROXD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPX_ABI_MAJOR 1 /* also the suffix of the descriptor symbol */
#define SPX_ABI_MINOR 1 /* bumped whenever something is appended */
#define SPX_DESCRIPTOR_SYMBOL "siproxd_plugin_v1"

/* Stages: the bit values of siproxd 0.8's PLUGIN_* constants. */
#define SPX_STAGE_TIMER 0x00000001u            /* no message; spx_msg* is NULL */
#define SPX_STAGE_PROCESS_RAW 0x00000008u      /* raw datagram, before parsing */
#define SPX_STAGE_VALIDATE 0x00000010u         /* parsed, before proxying */
#define SPX_STAGE_DETERMINE_TARGET 0x00000020u /* may answer and consume */
#define SPX_STAGE_PRE_PROXY 0x00000040u        /* direction known, not rewritten */
#define SPX_STAGE_PROXY_UNK 0x00000080u        /* no registration matches */
#define SPX_STAGE_POST_PROXY 0x00000100u       /* rewritten, about to be sent */
/* Every stage bit ABI 1.0 defines; a descriptor asking for others is refused. */
#define SPX_STAGES_V1_0 0x000001F9u

/* process() verdicts: the values of siproxd's STS_* codes, plus SPX_ERROR. */
#define SPX_CONTINUE 0    /* go on with the next plugin */
#define SPX_DROP 1        /* PROCESS_RAW, VALIDATE: stop and drop the packet */
#define SPX_SIP_SENT 2001 /* DETERMINE_TARGET, PROXY_UNK: message consumed */
#define SPX_ERROR (-1)    /* plugin is broken: host logs it and disables it */

/* Results of host calls. */
#define SPX_OK 0
#define SPX_E_NOTFOUND (-1) /* no such header, key or index */
#define SPX_E_INVAL (-2)    /* bad argument or unparsable value */
#define SPX_E_STAGE (-3)    /* not allowed in this stage or message kind */
#define SPX_E_NOMEM (-4)    /* a configured limit would be exceeded */
#define SPX_E_IO (-5)       /* the host could not send */

/* Directions: the values of siproxd's ticket->direction. */
#define SPX_DIR_UNKNOWN 0
#define SPX_DIR_REQ_INCOMING 1
#define SPX_DIR_REQ_OUTGOING 2
#define SPX_DIR_RES_INCOMING 3
#define SPX_DIR_RES_OUTGOING 4

#define SPX_TRANSPORT_UDP 1 /* siproxd's PROTO_UDP */
#define SPX_TRANSPORT_TCP 2 /* siproxd's PROTO_TCP */

#define SPX_LOG_ERROR 1
#define SPX_LOG_WARN 2
#define SPX_LOG_INFO 3
#define SPX_LOG_DEBUG 4

/* ABI 1.1: via_add_own() interfaces, siproxd's IF_OUTBOUND / IF_INBOUND. */
#define SPX_IF_OUTBOUND 0
#define SPX_IF_INBOUND 1

#define SPX_INDEX_ALL ((size_t)-1) /* header_remove: every field of that name */
#define SPX_INDEX_END ((size_t)-1) /* header_insert: after the last such field */

/* Borrowed bytes: not NUL-terminated, never freed by the receiver. */
typedef struct spx_str {
    const char *ptr;
    size_t len;
} spx_str;

/* One header field for reply(): name and value, both borrowed. */
typedef struct spx_hdr {
    spx_str name;
    spx_str value;
} spx_hdr;

/* Address without sockaddr, so Linux and the BSDs (sin_len) look the same. */
typedef struct spx_addr {
    uint8_t family;  /* 4 or 6 */
    uint8_t reserved; /* 0 */
    uint16_t port;   /* host byte order */
    uint8_t ip[16];  /* network order; IPv4 uses ip[0..4] */
} spx_addr;

/* ABI 1.1: one active, unexpired registration (siproxd's urlmap entry).
 * Strings are borrowed until the plugin's current init()/process() returns. */
typedef struct spx_registration {
    spx_str aor;         /* reg_url: the address of record, "sip:alice@example.org" */
    spx_str contact;     /* true_url: where the UA is, "sip:alice@192.168.1.10:5062" */
    spx_str masq;        /* masq_url: the Contact siproxd registered upstream */
    uint64_t expires_ms; /* now_ms() value at which it expires */
} spx_registration;

/* ABI 1.1: one active RTP stream of the relay (siproxd's rtp_proxytable entry). */
typedef struct spx_rtp_stream {
    spx_str client_id;         /* the UA the stream belongs to */
    spx_str call_id;           /* "number@host" (or "number") */
    int32_t call_direction;    /* SPX_DIR_REQ_INCOMING or SPX_DIR_REQ_OUTGOING */
    int32_t stream_direction;  /* SPX_DIR_REQ_INCOMING or SPX_DIR_REQ_OUTGOING */
    uint32_t media_stream_no;  /* m= line index within the call */
    spx_addr local;            /* the relay's address for this stream */
    spx_addr remote;           /* the peer's address */
} spx_rtp_stream;

typedef struct spx_host spx_host; /* opaque; one per plugin, valid until fini() */
typedef struct spx_msg spx_msg;   /* opaque; valid during one process() call */

/*
 * Host services.  Append-only: a new minor adds functions at the end.
 * Message calls return SPX_E_STAGE where the stage does not allow them:
 *  TIMER: no message at all.
 *  PROCESS_RAW: msg_raw, msg_source, msg_transport, msg_is_request (-1).
 *  VALIDATE .. POST_PROXY: everything; reply() only for requests in
 *  DETERMINE_TARGET and PROXY_UNK; direction_set only in PRE_PROXY.
 */
typedef struct spx_host_api {
    uint32_t struct_size; /* sizeof(spx_host_api) as the host compiled it */
    uint16_t abi_major;
    uint16_t abi_minor;
    const char *host_version; /* NUL-terminated, e.g. "siproxd-rs 0.1.0" */

    /* Process-wide services (any stage). */
    void (*log)(spx_host *h, int level, const char *msg, size_t len); /* any thread */
    size_t (*config_count)(spx_host *h, const char *key);              /* key: NUL-terminated */
    int (*config_get)(spx_host *h, const char *key, size_t index, spx_str *out);
    uint64_t (*now_ms)(spx_host *h);                   /* monotonic milliseconds */
    int (*timer_request)(spx_host *h, uint32_t after_ms); /* one extra TIMER call */

    /* Message facts. */
    int (*msg_is_request)(spx_msg *m); /* 1 request, 0 response, -1 raw only */
    int (*msg_method)(spx_msg *m, spx_str *out);
    int (*msg_status)(spx_msg *m);    /* status code; 0 for a request */
    int (*msg_direction)(spx_msg *m); /* SPX_DIR_* */
    int (*msg_transport)(spx_msg *m); /* SPX_TRANSPORT_* */
    int (*msg_source)(spx_msg *m, spx_addr *out);
    int (*msg_raw)(spx_msg *m, spx_str *out); /* the datagram as received */

    /* Message access.  Header names are case-insensitive and compact forms
     * equal long ones ("v" == "Via"); index counts field lines in message
     * order (a "Via: a, b" line is one field). */
    int (*uri_get)(spx_msg *m, spx_str *out); /* Request-URI */
    int (*uri_set)(spx_msg *m, const char *v, size_t len);
    size_t (*header_count)(spx_msg *m, const char *name);
    int (*header_get)(spx_msg *m, const char *name, size_t index, spx_str *out);
    int (*header_set)(spx_msg *m, const char *name, size_t index, const char *v, size_t len);
    int (*header_insert)(spx_msg *m, const char *name, size_t before, const char *v, size_t len);
    int (*header_remove)(spx_msg *m, const char *name, size_t index);
    int (*body_get)(spx_msg *m, spx_str *out);
    int (*body_set)(spx_msg *m, const char *v, size_t len); /* fixes Content-Length */
    int (*next_hop_set)(spx_msg *m, const spx_addr *a);
    int (*direction_set)(spx_msg *m, int direction); /* PRE_PROXY, like plugin_siptrunk */

    /* Answer the current request and consume it; then return SPX_SIP_SENT.
     * reason may be NULL (standard phrase); extra fields are appended. */
    int (*reply)(spx_msg *m, int code, const char *reason, size_t reason_len,
                 const spx_hdr *extra, size_t n_extra);
    int (*send_raw)(spx_host *h, const spx_addr *to, const uint8_t *data, size_t len);
    int (*public_addr_set)(spx_host *h, const spx_addr *a); /* e.g. learnt by STUN */

    /* ABI 1.1 (check SPX_HOST_HAS or ask for abi_minor 1). */
    /* The index-th active, unexpired registration; SPX_E_NOTFOUND past the
     * last.  Any stage (plugin_siptrunk, plugin_fix_fbox_anoncall, plugin_stats). */
    int (*registration_get)(spx_host *h, size_t index, spx_registration *out);
    /* The index-th active RTP stream; SPX_E_NOTFOUND past the last (plugin_stats). */
    int (*rtp_stream_get)(spx_host *h, size_t index, spx_rtp_stream *out);
    /* Inserts siproxd's own Via for SPX_IF_OUTBOUND/INBOUND on top, as
     * sip_add_myvia() does; PRE_PROXY only (plugin_fix_DTAG). */
    int (*via_add_own)(spx_msg *m, int interface);
    /* How many status requests (SIGUSR1) the daemon has received since it
     * started; plugins poll it on TIMER (plugin_stats).  Any stage. */
    uint64_t (*status_requests)(spx_host *h);
} spx_host_api;

/* True if the host's table has `field` (it may be older than this header). */
#define SPX_HOST_HAS(api, field) \
    ((api)->struct_size >= offsetof(spx_host_api, field) + sizeof((api)->field))

/* The descriptor a plugin exports as siproxd_plugin_v1. */
typedef struct spx_plugin_desc {
    uint32_t struct_size;    /* sizeof(spx_plugin_desc) as the plugin compiled it */
    uint16_t abi_major;      /* SPX_ABI_MAJOR */
    uint16_t abi_minor;      /* the oldest host minor this plugin works with */
    const char *name;        /* "plugin_logcall": static, NUL-terminated, unique */
    const char *description; /* static, NUL-terminated; may be NULL */
    uint32_t stages;         /* SPX_STAGE_* mask */
    uint32_t flags;          /* reserved: 0 */
    /* Called once, before chroot and the privilege drop.  Store what you need
     * in *state; return SPX_OK or the plugin is skipped (fini is still called
     * if *state was set). */
    int (*init)(const spx_host_api *api, spx_host *h, void **state);
    /* One stage of one message (m is NULL for TIMER); returns a verdict. */
    int (*process)(void *state, uint32_t stage, spx_msg *m);
    /* At shutdown, in reverse load order. */
    void (*fini)(void *state);
} spx_plugin_desc;

#if defined(__GNUC__) || defined(__clang__)
#define SPX_EXPORT __attribute__((visibility("default")))
#else
#define SPX_EXPORT
#endif

/* Usage: SPX_DECLARE_PLUGIN = { sizeof(spx_plugin_desc), SPX_ABI_MAJOR, ... }; */
#ifdef __cplusplus
#define SPX_DECLARE_PLUGIN extern "C" SPX_EXPORT const spx_plugin_desc siproxd_plugin_v1
#else
#define SPX_DECLARE_PLUGIN SPX_EXPORT const spx_plugin_desc siproxd_plugin_v1
#endif

#ifdef __cplusplus
}
#endif

#endif /* SIPROXD_PLUGIN_H */
