/* fuzz_event: libFuzzer target for the event msgpack decoder and its JSON printer (mf_codec). */
#include "fuzz_roundtrip.h"

FUZZ_ROUNDTRIP_TARGET(event, MF_MSG_EVENT)
