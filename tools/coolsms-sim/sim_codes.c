/* sim_codes: the ONE table of message status codes the simulator returns (edit here only). */
#include <stdio.h>
#include <string.h>

#include "sim.h"

/*
 * Codes and messages follow solapi/documents api-reference/message-status-codes.md (the
 * SOLAPI docs repository): 1xxx errors at acceptance, 2000 accepted, 3000 handed to the
 * carrier, 3xxx carrier errors, 4000 received. Which code the real service uses for each
 * validation below was NOT confirmed against the live service: the mapping is our best reading
 * of that table. Correct it here; nothing else in the simulator hard-codes a code.
 */
static const sim_code codes[SIM_C__COUNT] = {
    [SIM_C_ACCEPTED] = {"2000", "정상 접수(이통사로 접수 예정)"},
    [SIM_C_CARRIER] = {"3000", "이통사로 접수(리포트를 기다리는 중)"},
    [SIM_C_DELIVERED] = {"4000", "수신 완료"},
    [SIM_C_MISSING] = {"1010", "필수 입력 값 미입력"},
    [SIM_C_BAD_TO] = {"1011", "Format Error: 수신번호 형식 오류"},
    [SIM_C_SUBJECT_SMS] = {"1013", "제목은 문자 타입이 'SMS'일 경우 사용이 불가능합니다."},
    [SIM_C_SUBJECT_LONG] = {"1014", "제목은 40byte까지 사용 가능합니다."},
    [SIM_C_BAD_TYPE] = {"1025", "잘못된 메시지 타입"},
    [SIM_C_DUP_TO] = {"1026", "중복 수신번호"},
    [SIM_C_NOT_EUCKR] =
        {"1029", "문자메시지의 경우 EUC-KR(완성형 한글) 범위 안에 있는 문자만 사용 합니다."},
    [SIM_C_TOO_LONG] = {"1031", "SMS는 90byte LMS, MMS는 2000byte ATA, CTA는 "
                                "한/영포함 1000자까지 사용 가능 합니다."},
    [SIM_C_BAD_CUSTOM] = {"1032", "유효한 커스텀 필드 값이 아닙니다."},
    [SIM_C_KAKAO_TYPE] = {"1033", "kakaoOptions은 메시지가 ATA 나 CTA인 경우에만 사용가능합니다."},
    [SIM_C_NO_IMAGE] = {"1034", "imageId가 존재하지 않습니다."},
    [SIM_C_NO_PFID] = {"1041", "유효한 플러스 친구 값이 아닙니다."},
    [SIM_C_NO_TEMPLATE] = {"1042", "유효한 템플릿 아이디가 아닙니다."},
    [SIM_C_NO_SENDER] = {"1062", "발신번호 미등록"},
};

/* Further codes that knobs may name (permanent_fail_code, deliver_fail_code). */
static const sim_code extra[] = {
    {"1030", "잔액 부족"},
    {"1060", "차단된 수신번호"},
    {"1061", "사용자에 의해 수신거부 됨(080무료수신거부)"},
    {"1064", "KISA 신고로 인한 차단"},
    {"2024", "서버 오류"},
    {"2254", "플랫폼 내부 스팸처리"},
    {"3010", "수신번호 형식 오류"},
    {"3032", "미가입자"},
    {"3040", "전송시간 초과"},
    {"3043", "단말기 Power off"},
    {"3047", "착신거절"},
    {"3054", "SPAM"},
    {"3059", "변작된 발신번호"},
    {"3104", "카카오톡 미사용자"},
};

const sim_code *sim_code_get(sim_code_id id)
{
    if ((unsigned)id >= SIM_C__COUNT)
        return &codes[SIM_C_MISSING];
    return &codes[id];
}

const char *sim_code_message(const char *code)
{
    for (size_t i = 0; i < SIM_C__COUNT; i++)
        if (strcmp(codes[i].code, code) == 0)
            return codes[i].message;
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
        if (strcmp(extra[i].code, code) == 0)
            return extra[i].message;
    return "unknown status";
}

void sim_codes_print_markdown(void)
{
    printf("| code | statusMessage |\n|---|---|\n");
    for (size_t i = 0; i < SIM_C__COUNT; i++)
        printf("| %s | %s |\n", codes[i].code, codes[i].message);
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
        printf("| %s | %s |\n", extra[i].code, extra[i].message);
}
