// tests/test_base.c: the JSON reader/writer and UTF-8 helpers of r1.h against Python's json module
// behaviour (the expected values below are what json.loads / json.dumps give for the same input).
#include "test.h"

static Json* parse(const char* s, char* err) { return json_parse(s, strlen(s), err, 256); }

int main(void) {
    char err[256];
    Json* v = parse("{\"a\": [1, -2.5e3, true, null, \"x\\u00e9\\ud83d\\ude00\\n\"], \"b\": {}}", err);
    check(v && v->type == JSON_OBJECT && v->len == 2, "json: object with two keys");
    const Json* a = json_get(v, "a");
    check(a && a->type == JSON_ARRAY && a->len == 5, "json: array of five");
    check(a && a->items[0].number == 1 && a->items[1].number == -2500, "json: numbers 1 and -2.5e3");
    check(a && a->items[2].type == JSON_BOOL && a->items[2].number == 1 && a->items[3].type == JSON_NULL,
          "json: true and null");
    // json.loads('"x\\u00e9\\ud83d\\ude00\\n"').encode() == b'x\xc3\xa9\xf0\x9f\x98\x80\n'
    check(a && a->items[4].len == 8 && memcmp(a->items[4].string, "x\xc3\xa9\xf0\x9f\x98\x80\n", 8) == 0,
          "json: \\u escapes and a surrogate pair decode to UTF-8");
    json_free(v);

    const char* bad[] = {"{\"a\": 1,}", "[1 2]", "\"abc", "{\"a\" 1}", "01", "[tru]", "", "{\"a\":\"\x01\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        Json* b = parse(bad[i], err);
        check(b == NULL && strstr(err, "line 1, column") != NULL, "json: rejects malformed input %zu (%s)", i, err);
    }
    Json* multi = parse("{\n  \"a\": 1,\n  \"b\": ]\n}", err);
    check(multi == NULL && strncmp(err, "line 3, column 8", 16) == 0, "json: error position is line 3 (%s)", err);

    char deep[2000];
    memset(deep, '[', sizeof(deep));
    Json* d = json_parse(deep, sizeof(deep), err, sizeof(err));
    check(d == NULL && strstr(err, "nested too deeply"), "json: 2000 nested arrays refused, no stack overflow");

    // json.dumps("a\"b\\\n\t\x01é", ensure_ascii=False) == '"a\\"b\\\\\\n\\t\\u0001é"'; invalid byte -> \ufffd
    char* buf = NULL;
    size_t size = 0;
    FILE* f = open_memstream(&buf, &size);
    json_write_string(f, "a\"b\\\n\t\x01\xc3\xa9\xff", 10);
    fclose(f);
    check(strcmp(buf, "\"a\\\"b\\\\\\n\\t\\u0001\xc3\xa9\\ufffd\"") == 0, "json: string writer escapes (%s)", buf);
    Json* back = json_parse(buf, size, err, sizeof(err));
    // 7 ASCII bytes + é (2) + U+FFFD (3)
    check(back && back->len == 12, "json: written string parses back");
    json_free(back);
    free(buf);

    uint32_t cp;
    check(utf8_decode((const unsigned char*)"\xe2\x82\xac", 3, &cp) == 3 && cp == 0x20AC, "utf8: euro sign");
    check(utf8_decode((const unsigned char*)"\xc0\xaf", 2, &cp) == 0, "utf8: overlong form refused");
    check(utf8_decode((const unsigned char*)"\xed\xa0\x80", 3, &cp) == 0, "utf8: surrogate refused");
    check(utf8_decode((const unsigned char*)"\xf0\x9f\x98", 3, &cp) == 0, "utf8: truncated 4-byte refused");
    return test_summary("test_base");
}
