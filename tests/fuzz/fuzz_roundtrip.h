/* fuzz_roundtrip: the oracle the msgpack decoder targets share (job, result, dlq, event). */
#ifndef FUZZ_ROUNDTRIP_H
#define FUZZ_ROUNDTRIP_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mf_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Defines LLVMFuzzerTestOneInput for one message type: any bytes may fail to decode, but
 * never crash. A message that decodes must re-encode, the re-encoding must decode again and
 * encode to the same bytes (the decoder keeps everything the encoder writes), and the JSON
 * printer must accept it; one that does not decode must not print (the printer validates
 * with the same decoder). NAME is the codec's suffix (job: mf_job, mf_codec_decode_job, ...),
 * KIND its mf_msg_kind.
 */
#define FUZZ_ROUNDTRIP_TARGET(NAME, KIND)                                                          \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                                   \
    {                                                                                              \
        static mf_codec *codec;                                                                    \
        static mf_buf json;                                                                        \
        static msgpack_sbuffer a, b;                                                               \
        mf_##NAME msg, again;                                                                      \
        mf_err err;                                                                                \
                                                                                                   \
        if (codec == NULL) {                                                                       \
            codec = mf_codec_new(NULL);                                                            \
            if (codec == NULL)                                                                     \
                abort();                                                                           \
            mf_buf_init(&json, 0);                                                                 \
            msgpack_sbuffer_init(&a);                                                              \
            msgpack_sbuffer_init(&b);                                                              \
        }                                                                                          \
        mf_buf_reset(&json);                                                                       \
        if (mf_codec_decode_##NAME(codec, data, size, &msg, &err) == 0) {                          \
            if (mf_codec_encode_##NAME(&a, &msg, &err) < 0 ||                                      \
                mf_codec_decode_##NAME(codec, a.data, a.size, &again, &err) < 0 ||                 \
                mf_codec_encode_##NAME(&b, &again, &err) < 0 || a.size != b.size ||                \
                memcmp(a.data, b.data, a.size) != 0)                                               \
                abort();                                                                           \
            if (mf_codec_to_json(codec, KIND, data, size, &json, &err) < 0)                        \
                abort();                                                                           \
        } else if (mf_codec_to_json(codec, KIND, data, size, &json, &err) == 0) {                  \
            abort();                                                                               \
        }                                                                                          \
        mf_codec_reset(codec);                                                                     \
        return 0;                                                                                  \
    }

#endif
