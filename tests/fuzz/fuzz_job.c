/* fuzz_job: libFuzzer target for the job msgpack decoder (jobs, retry) and its JSON printer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mf_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Oracle: any bytes may fail to decode, but never crash. A message that decodes must
 * re-encode, the re-encoding must decode again and encode to the same bytes (the decoder
 * keeps everything the encoder writes), and the JSON printer must accept it.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mf_codec *codec;
    static mf_buf json;
    static msgpack_sbuffer a, b;
    mf_job msg, again;
    mf_err err;

    if (codec == NULL) {
        codec = mf_codec_new(NULL);
        if (codec == NULL)
            abort();
        mf_buf_init(&json, 0);
        msgpack_sbuffer_init(&a);
        msgpack_sbuffer_init(&b);
    }
    mf_buf_reset(&json);
    if (mf_codec_decode_job(codec, data, size, &msg, &err) == 0) {
        if (mf_codec_encode_job(&a, &msg, &err) < 0 ||
            mf_codec_decode_job(codec, a.data, a.size, &again, &err) < 0 ||
            mf_codec_encode_job(&b, &again, &err) < 0 || a.size != b.size ||
            memcmp(a.data, b.data, a.size) != 0)
            abort();
        if (mf_codec_to_json(codec, MF_MSG_JOB, data, size, &json, &err) < 0)
            abort();
    } else if (mf_codec_to_json(codec, MF_MSG_JOB, data, size, &json, &err) == 0) {
        abort(); /* the printer validates with the same decoder */
    }
    mf_codec_reset(codec);
    return 0;
}
