/* fuzz_result: libFuzzer target for the result msgpack decoder and its JSON printer (mf_codec). */
#include "fuzz_roundtrip.h"

FUZZ_ROUNDTRIP_TARGET(result, MF_MSG_RESULT)
