/*
dev/tokenize: the r1.h tokenizer from the command line.

    ./dev/tokenize MODEL_DIR < text.txt          ids of all of stdin, on one line
    ./dev/tokenize MODEL_DIR --decode < ids.txt  text of whitespace-separated ids
    ./dev/tokenize MODEL_DIR --chat < chat.jsonl ids of {"messages": [...]} (first line) in ChatML
    ./dev/tokenize --bytes ...                   the byte-level vocabulary instead of a model folder
    ./dev/tokenize MODEL_DIR --save DIR          write vocab.json, merges.txt, tokenizer_config.json
    ./dev/tokenize MODEL_DIR --bench FILE        encode throughput on FILE's NUL-separated records
*/
#include "../r1.h"

static void usage(void) {
    printf("usage: ./dev/tokenize (MODEL_DIR | --bytes) [options] < input\n"
           "  (default)                 encode all of stdin, print the ids on one line\n"
           "  --decode                  read ids (whitespace-separated), print the text\n"
           "  --skip-special            with --decode: drop special tokens\n"
           "  --chat                    read one JSON line {\"messages\": [{\"role\":..,\"content\":..}, ..]},\n"
           "                            print the ChatML ids\n"
           "  --add-generation-prompt   with --chat: end with <|im_start|>assistant\\n\n"
           "  --continue-final          with --chat: leave the last message open (prefill)\n"
           "  --system TEXT             with --chat: default system prompt (\"\" for none); with --save\n"
           "                            and --bytes: the default written into the chat template\n"
           "  --mask                    with --chat: print the assistant mask on a second line\n"
           "  --text                    with --chat: print the rendered text instead of ids\n"
           "  --save DIR                write the tokenizer files to DIR and exit\n"
           "  --bench FILE              encode FILE's records (separated by NUL bytes) one call each, on\n"
           "                            one thread, for at least 3 s; print the throughput\n"
           "MODEL_DIR holds vocab.json, merges.txt and tokenizer_config.json (a Qwen2.5 folder).\n");
}

static char* read_stdin(size_t* n) {
    StrBuf v = {0};
    sb_append(&v, "", 0);
    char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof(buf), stdin)) > 0) {
        sb_append(&v, buf, got);
    }
    *n = v.len;
    return v.s;
}

static void print_ids(const int* ids, int n) {
    for (int i = 0; i < n; i++) {
        printf(i ? " %d" : "%d", ids[i]);
    }
    printf("\n");
}

static void run_chat(const Tokenizer* t, const char* input, size_t n, const char* system, int gen, int cont,
                     int mask, int text) {
    const char* nl = memchr(input, '\n', n);
    char err[256];
    Json* j = json_parse(input, nl ? (size_t)(nl - input) : n, err, sizeof(err));
    const Json* msgs = j ? json_get(j, "messages") : NULL;
    if (j == NULL || msgs == NULL || msgs->type != JSON_ARRAY) {
        fatal("--chat: stdin's first line must be {\"messages\": [...]} (%s)", j ? "no messages array" : err);
    }
    ChatMessage* m = (ChatMessage*)calloc_check(msgs->len, sizeof(ChatMessage));
    for (size_t i = 0; i < msgs->len; i++) {
        m[i].role = json_get_string(&msgs->items[i], "role");
        m[i].content = json_get_string(&msgs->items[i], "content");
        if (!m[i].role || !m[i].content) {
            fatal("--chat: message %zu needs string \"role\" and \"content\"", i);
        }
    }
    if (text) {
        size_t len;
        char* s = chat_render(t, m, (int)msgs->len, system, gen, cont, &len, NULL);
        fwrite(s, 1, len, stdout);
        free(s);
    } else {
        int* ids;
        unsigned char* am;
        int count = chat_encode(t, m, (int)msgs->len, system, gen, cont, &ids, &am);
        print_ids(ids, count);
        for (int i = 0; mask && i < count; i++) {
            printf(i + 1 < count ? "%d " : "%d\n", am[i]);
        }
        free(ids), free(am);
    }
    free(m);
    json_free(j);
}

// Encodes every record (one tokenizer_encode call each), over and over for at least 3 seconds.
static void run_bench(const Tokenizer* t, const char* path) {
    size_t n;
    char* text = read_file(path, &n);
    size_t records = 0, tokens = 0, bytes = 0;
    int passes = 0;
    double t0 = wall_time(), dt;
    do {
        for (size_t i = 0; i < n;) {
            size_t len = strlen(text + i); // records are NUL-separated
            int* ids;
            int count = tokenizer_encode(t, text + i, len, &ids);
            free(ids);
            if (passes == 0) {
                records++, tokens += (size_t)count, bytes += len;
            }
            i += len + 1;
        }
        passes++;
        dt = wall_time() - t0;
    } while (dt < 3.0);
    printf("r1.h: %zu records, %zu bytes, %zu tokens, %d passes in %.2f s: %.2f MB/s, %.0f tokens/s\n", records,
           bytes, tokens, passes, dt, bytes * (double)passes / dt / 1e6, tokens * (double)passes / dt);
    free(text);
}

int main(int argc, char** argv) {
    const char *model = NULL, *save = NULL, *system = NULL, *bench = NULL;
    int decode = 0, skip = 0, chat = 0, gen = 0, cont = 0, mask = 0, text = 0, bytes = 0;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        }
        if (!strcmp(a, "--decode")) decode = 1;
        else if (!strcmp(a, "--skip-special")) skip = 1;
        else if (!strcmp(a, "--chat")) chat = 1;
        else if (!strcmp(a, "--add-generation-prompt")) gen = 1;
        else if (!strcmp(a, "--continue-final")) cont = 1;
        else if (!strcmp(a, "--mask")) mask = 1;
        else if (!strcmp(a, "--text")) text = 1;
        else if (!strcmp(a, "--bytes")) bytes = 1;
        else if (!strcmp(a, "--save") && i + 1 < argc) save = argv[++i];
        else if (!strcmp(a, "--bench") && i + 1 < argc) bench = argv[++i];
        else if (!strcmp(a, "--system") && i + 1 < argc) system = argv[++i];
        else if (a[0] != '-' && !model) model = a;
        else {
            usage();
            fatal("unknown argument '%s'", a);
        }
    }
    if (!model && !bytes) {
        usage();
        return 1;
    }
    Tokenizer t;
    if (bytes) {
        tokenizer_init_bytes(&t);
    } else {
        tokenizer_load(&t, model);
    }
    if (save || bench) {
        if (save && system && !t.chat_template) { // a default system prompt for the template written
            free(t.default_system);
            t.default_system = system[0] ? strdup_check(system) : NULL;
        }
        if (save) {
            tokenizer_save(&t, save);
        } else {
            run_bench(&t, bench);
        }
        tokenizer_free(&t);
        return 0;
    }
    size_t n;
    char* input = read_stdin(&n);
    if (chat) {
        run_chat(&t, input, n, system, gen, cont, mask, text);
    } else if (decode) {
        IntVec ids = {0};
        char* end;
        for (char* p = input; *p;) {
            long v = strtol(p, &end, 10);
            if (end == p) {
                if (isspace((unsigned char)*p) || *p == ',') {
                    p++;
                    continue;
                }
                fatal("--decode: expected integer ids on stdin, got '%.20s'", p);
            }
            intvec_push(&ids, (int)v);
            p = end;
        }
        size_t len;
        char* s = tokenizer_decode(&t, ids.data, ids.n, skip, &len);
        fwrite(s, 1, len, stdout);
        free(s), free(ids.data);
    } else {
        int* ids;
        int count = tokenizer_encode(&t, input, n, &ids);
        print_ids(ids, count);
        free(ids);
    }
    free(input);
    tokenizer_free(&t);
    return 0;
}
