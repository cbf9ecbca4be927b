/* fuzz_job: libFuzzer target for the job msgpack decoder (jobs, retry) and its JSON printer. */
#include "fuzz_roundtrip.h"

FUZZ_ROUNDTRIP_TARGET(job, MF_MSG_JOB)
