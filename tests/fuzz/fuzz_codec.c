/* fuzz_codec: libFuzzer harness for the msgpack decoders and the JSON printer of mf_codec. */
/*
 * Not part of the CMake build. With clang:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_DEFAULT_SOURCE -Icommon \
 *     tests/fuzz/fuzz_codec.c common/mf_codec.c common/mf_uuid.c common/mf_buf.c \
 *     common/mf_err.c $(pkg-config --cflags --libs msgpack libcrypto) -o fuzz_codec
 *   ./fuzz_codec -max_len=4096 corpus/
 * Without clang (gcc), -DMF_FUZZ_STANDALONE builds a main() that runs each file given on the
 * command line once (to replay a crash or a corpus).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mf_codec *codec;
    static mf_buf json;
    mf_job job;
    mf_result res;
    mf_dlq dlq;
    mf_event ev;
    mf_err err;
    msgpack_sbuffer sb;
    int kind;

    if (codec == NULL) {
        codec = mf_codec_new(NULL);
        mf_buf_init(&json, 0);
        if (codec == NULL)
            abort();
    }
    msgpack_sbuffer_init(&sb);
    /* a message that decodes must print as JSON and re-encode to something that decodes */
    if (mf_codec_decode_job(codec, data, size, &job, &err) == 0 &&
        (mf_codec_encode_job(&sb, &job, &err) < 0 ||
         mf_codec_decode_job(codec, sb.data, sb.size, &job, &err) < 0))
        abort();
    if (mf_codec_decode_result(codec, data, size, &res, &err) == 0 &&
        (mf_codec_encode_result(&sb, &res, &err) < 0 ||
         mf_codec_decode_result(codec, sb.data, sb.size, &res, &err) < 0))
        abort();
    if (mf_codec_decode_dlq(codec, data, size, &dlq, &err) == 0 &&
        (mf_codec_encode_dlq(&sb, &dlq, &err) < 0 ||
         mf_codec_decode_dlq(codec, sb.data, sb.size, &dlq, &err) < 0))
        abort();
    if (mf_codec_decode_event(codec, data, size, &ev, &err) == 0 &&
        (mf_codec_encode_event(&sb, &ev, &err) < 0 ||
         mf_codec_decode_event(codec, sb.data, sb.size, &ev, &err) < 0))
        abort();
    for (kind = MF_MSG_JOB; kind <= MF_MSG_EVENT; kind++) {
        mf_buf_reset(&json);
        (void)mf_codec_to_json(codec, (mf_msg_kind)kind, data, size, &json, &err);
    }
    msgpack_sbuffer_destroy(&sb);
    mf_codec_reset(codec);
    return 0;
}

#ifdef MF_FUZZ_STANDALONE
int main(int argc, char **argv)
{
    static uint8_t buf[1 << 22];
    int i;

    for (i = 1; i < argc; i++) {
        FILE *fp = fopen(argv[i], "rb");
        size_t n;

        if (fp == NULL) {
            perror(argv[i]);
            return 1;
        }
        n = fread(buf, 1, sizeof(buf), fp);
        fclose(fp);
        LLVMFuzzerTestOneInput(buf, n);
    }
    return 0;
}
#endif
