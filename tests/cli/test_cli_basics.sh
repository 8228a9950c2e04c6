# The crescendo program's front end, end to end: help, version, info, and the exit status and
# message of every kind of command-line mistake. Any mismatch fails the test (exit 1).
set -u

cr="${CR_BUILD_DIR:?set CR_BUILD_DIR to the build directory}/crescendo"
source_dir="${CR_SOURCE_DIR:?set CR_SOURCE_DIR to the source directory}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    echo "  stdout: $(head -c 2000 "$work/out")" >&2
    echo "  stderr: $(head -c 2000 "$work/err")" >&2
    failures=$((failures + 1))
}

# expect STATUS -- ARGS...: runs crescendo ARGS, checks the exit status; output in $work/out, err.
expect() {
    local want="$1"
    shift 2
    "$cr" "$@" >"$work/out" 2>"$work/err"
    local got=$?
    last="crescendo $*"
    [ "$got" -eq "$want" ] || fail "$last: exit status $got, expected $want"
}

# has FILE TEXT: the output (out or err) of the last run contains TEXT, verbatim.
has() {
    grep -qF -- "$2" "$work/$1" || fail "$last: $1 lacks \"$2\""
}
lacks() {
    ! grep -qF -- "$2" "$work/$1" || fail "$last: $1 has \"$2\""
}

# --- help and version ------------------------------------------------------------------------
expect 0 -- --help
has out "usage: crescendo <command> [options]"
has out "info"
has out "prepare"
expect 0 -- help
has out "usage: crescendo <command> [options]"

version="$(sed -n 's/^#define CR_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' \
    "$source_dir/include/crescendo/version.h" | paste -sd.)"
expect 0 -- --version
[ "$(cat "$work/out")" = "crescendo $version" ] || fail "--version printed \"$(cat "$work/out")\", expected \"crescendo $version\""
expect 2 -- --version extra
has err "crescendo: error: --version takes no arguments"

expect 0 -- info --help
has out "usage: crescendo info"
has out "--help"
expect 0 -- help info
has out "usage: crescendo info"
expect 0 -- prepare --help
has out "fashion-mnist"

# --- info ------------------------------------------------------------------------------------
expect 0 -- info
has out "crescendo $version"
has out "backends: cpu (available)"
has out "avx512_bf16"
has out "openmp:"
has out "onednn:"
has out "bf16:     "
# oneDNN capped at AVX2 has no bf16 kernels, whatever the CPU; the thread count is crescendo's
DNNL_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=1 expect 0 -- info
has out "kernels for avx2"
has out "bf16:     not supported (avx2 kernels; bf16 needs AVX512-BF16 or AMX)"
has out "(OMP_NUM_THREADS 1)"
# ... and so --precision bf16 is refused before any work, naming the way out
DNNL_MAX_CPU_ISA=AVX2 expect 1 -- bench train --model simple_cnn --channels 1 --resolution 28 \
    --warmup 1 --steps 1 --precision bf16
has err "--precision bf16: this cpu backend has no fast bf16 arithmetic on this machine (see crescendo info); use fp32"
expect 2 -- bench train --precision fp16
has err "fp16"
expect 0 -- -v info
has out "backends:"

# --- commands and options that do not exist -----------------------------------------------------
expect 2 --
has err "crescendo: error: missing the command"
has err "try 'crescendo --help'"

expect 2 -- trian
has err "crescendo: error: unknown command \"trian\""
has err "try 'crescendo --help'"
lacks out "usage"

expect 2 -- help nosuch
has err "unknown command \"nosuch\""

expect 2 -- --epochs 3
has err "crescendo: error: unknown option --epochs"

expect 2 -- info --verbsoe
has err "crescendo: error: unknown option --verbsoe (did you mean --verbose?)"
has err "try 'crescendo info --help'"

expect 2 -- info extra
has err "unexpected argument \"extra\""

expect 2 -- info --help=yes
has err "--help takes no value"

expect 2 -- prepare fashion-mnst --out "$work/x"
has err "unknown dataset \"fashion-mnst\" (did you mean \"fashion-mnist\"?)"
has err "try 'crescendo prepare --help'"

# --- values that do not parse ----------------------------------------------------------------
expect 2 -- prepare fashion-mnist
has err "crescendo: error: missing --out"
has err "try 'crescendo prepare fashion-mnist --help'"

expect 2 -- prepare fashion-mnist --out
has err "--out needs a value"

expect 2 -- prepare fashion-mnist --out "$work/fm" --workers ten
has err "crescendo: error: --workers: \"ten\" is not an integer"
has err "try 'crescendo prepare fashion-mnist --help'"

expect 2 -- prepare fashion-mnist --out "$work/fm" --workers=2.5
has err "--workers: \"2.5\" is not an integer"

expect 2 -- prepare fashion-mnist --out "$work/fm" --workers -1
has err "--workers: -1 is out of range"

# --- YAML configuration files ------------------------------------------------------------------
printf 'src: /nowhere\nout: %s\nsorce: /x\n' "$work/fm" >"$work/bad.yaml"
expect 2 -- prepare fashion-mnist -c "$work/bad.yaml"
has err "bad.yaml:3: unknown key \"sorce\" (did you mean \"src\"?)"

printf 'out: [1, 2\n' >"$work/broken.yaml"
expect 2 -- prepare fashion-mnist -c "$work/broken.yaml"
has err "broken.yaml:"

expect 2 -- prepare fashion-mnist -c "$work/missing.yaml"
has err "cannot open $work/missing.yaml"

# the resolved options read back the same, and the command line wins over the file
expect 0 -- prepare fashion-mnist --src "/a dir/with: colon" --out "$work/fm" --print-config
cp "$work/out" "$work/saved.yaml"
has out "src: \"/a dir/with: colon\""
expect 0 -- prepare fashion-mnist -c "$work/saved.yaml" --print-config
cmp -s "$work/out" "$work/saved.yaml" || fail "$last: the saved options do not read back the same"
expect 0 -- prepare fashion-mnist --out "$work/other" -c "$work/saved.yaml" --print-config
has out "out: \"$work/other\""

# --- a failure of the library exits 1 with its message -------------------------------------------
expect 1 -- prepare fashion-mnist --src "$work/no-such-dir" --out "$work/fm"
has err "crescendo: error: "
has err "$work/no-such-dir"
lacks err "try 'crescendo"

if [ "$failures" -ne 0 ]; then
    echo "test_cli_basics: $failures failed" >&2
    exit 1
fi
echo "test_cli_basics: all passed"
