/* Counts the guest instructions that qemu-user executes, in three classes
 * of the AArch64 encoding: SIMD/FP data processing, loads and stores, the
 * rest. Written at exit to the file named by the plugin argument "out=".
 *
 * Build: cc -shared -fPIC -O2 -o insncount.so insncount.c
 * Use:   qemu-aarch64 -plugin ./insncount.so,out=counts.txt PROGRAM ...
 *
 * The plugin interface (QEMU 7.x, plugin API version 1) is declared here
 * rather than included, so that no QEMU headers are needed to build it. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*udata_cb)(qemu_plugin_id_t, void *);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, udata_cb, void *);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *, enum qemu_plugin_op, void *, uint64_t);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;

enum { SIMD, MEMORY, OTHER, CLASSES };
static uint64_t counts[CLASSES];
static char out_path[4096];

static int classify(uint32_t word)
{
    uint32_t op0 = (word >> 25) & 0xf;          /* bits 28..25 */
    if ((op0 & 0x7) == 0x7) return SIMD;        /* x111: SIMD and FP data processing */
    if ((op0 & 0x5) == 0x4) return MEMORY;      /* x1x0: loads and stores */
    return OTHER;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    uint64_t n[CLASSES] = {0, 0, 0};
    size_t count = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < count; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint32_t word = 0;
        if (qemu_plugin_insn_size(insn) == 4) memcpy(&word, qemu_plugin_insn_data(insn), 4);
        n[classify(word)]++;
    }
    for (int c = 0; c < CLASSES; c++)
        if (n[c]) qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &counts[c], n[c]);
}

static void on_exit(qemu_plugin_id_t id, void *data)
{
    FILE *f = fopen(out_path, "w");
    if (!f) return;
    fprintf(f, "simd %llu\nmemory %llu\nother %llu\n", (unsigned long long)counts[SIMD],
            (unsigned long long)counts[MEMORY], (unsigned long long)counts[OTHER]);
    fclose(f);
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], "out=", 4) == 0) snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
    if (!out_path[0]) return -1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit, NULL);
    return 0;
}
