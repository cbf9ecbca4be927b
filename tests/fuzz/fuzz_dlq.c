/* fuzz_dlq: libFuzzer target for the dead-letter (dlq) msgpack decoder and its JSON printer. */
#include "fuzz_roundtrip.h"

FUZZ_ROUNDTRIP_TARGET(dlq, MF_MSG_DLQ)
