/* mf_codec_int: what the codec's files share (encoder, decoder, JSON printer; not for callers). */
#ifndef MF_CODEC_INT_H
#define MF_CODEC_INT_H

/*
 * The codec is one module in three files: mf_codec.c (names, the structural pre-scan and the
 * strict decoders), mf_codec_encode.c (the encoders) and mf_codec_json.c (the JSON printer of
 * `msgfleet tail` and the fuzz round-trip oracle). Callers include mf_codec.h only.
 */
#include "mf_codec.h"

/* Most pairs in a string map (template variables, event attributes). */
#define MF_CODEC_MAP_MAX_PAIRS 1024

struct mf_codec {
    msgpack_zone scratch; /* unpacked object tree of the last message; cleared per decode */
    msgpack_zone values;  /* decoded strings and pair arrays; cleared by mf_codec_reset */
    msgpack_object root;  /* the last message, for mf_codec_to_json */
};

/* A string value of `key` as the wire allows it: at most UINT32_MAX bytes, no NUL byte, valid
 * UTF-8. 0, or -1 with err naming the key. */
int mf_codec_check_str(const char *key, const char *s, size_t n, mf_err *err);

/* 1 when the msgpack str o equals the C string s. */
int mf_codec_str_eq(const msgpack_object *o, const char *s);

#endif
