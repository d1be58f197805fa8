/**
 * WebAssembly text of the f32 `nt` micro-kernel: C[i, j] (+)= Σ_k A[i, k]·B[j, k] for rows i of a 64-row block and
 * columns j in [j0, j1), 2 rows of A × 4 rows of B per step with 8 f32x4 accumulators (fits x86's 16 SIMD
 * registers). Requirements: k and the j range are multiples of 4; pointers are byte offsets into shared memory.
 * Rows of A and B are `lda` / `ldb` bytes apart (4k when packed; more when the product runs over a k-block).
 * Generated here rather than hand-typed so the unrolled accumulator code stays correct.
 */
import { mmFunc } from "./mm-wat.js";

const acc = (r: number, q: number) => `$s${r}${q}`;

function kStep(): string {
  const lines: string[] = [
    "(local.set $x0 (v128.load (i32.add (local.get $a0) (local.get $p))))",
    "(local.set $x1 (v128.load (i32.add (local.get $a1) (local.get $p))))",
  ];
  for (let q = 0; q < 4; q++) {
    lines.push(`(local.set $w (v128.load (i32.add (local.get $b${q}) (local.get $p))))`);
    for (let r = 0; r < 2; r++) {
      lines.push(`(local.set ${acc(r, q)} (f32x4.add (local.get ${acc(r, q)}) (f32x4.mul (local.get $x${r}) (local.get $w))))`);
    }
  }
  return lines.join("\n");
}

const hsum = (v: string) =>
  `(f32.add (f32.add (f32x4.extract_lane 0 (local.get ${v})) (f32x4.extract_lane 1 (local.get ${v}))) (f32.add (f32x4.extract_lane 2 (local.get ${v})) (f32x4.extract_lane 3 (local.get ${v}))))`;

function store(r: number, q: number): string {
  const addr = `(i32.add (local.get $cp) (i32.const ${(q * 4).toString()}))`;
  const rowAddr = r === 0 ? addr : `(i32.add ${addr} (local.get $nb))`;
  return `(if (local.get $accum)
    (then (f32.store ${rowAddr} (f32.add (f32.load ${rowAddr}) ${hsum(acc(r, q))})))
    (else (f32.store ${rowAddr} ${hsum(acc(r, q))})))`;
}

/** The `nt` function (no module wrapper). */
function ntFunc(): string {
  const accLocals = [0, 1].flatMap((r) => [0, 1, 2, 3].map((q) => `(local ${acc(r, q)} v128)`)).join(" ");
  const zero = [0, 1].flatMap((r) => [0, 1, 2, 3].map((q) => `(local.set ${acc(r, q)} (v128.const i32x4 0 0 0 0))`)).join("\n");
  return `
  (func (export "nt")
    (param $a i32) (param $b i32) (param $c i32) (param $m i32) (param $n i32) (param $k i32)
    (param $accum i32) (param $j0 i32) (param $j1 i32) (param $lda i32) (param $ldb i32)
    (local $kb i32) (local $nb i32) (local $i0 i32) (local $iend i32) (local $i i32) (local $j i32) (local $p i32)
    (local $a0 i32) (local $a1 i32) (local $b0 i32) (local $b1 i32) (local $b2 i32) (local $b3 i32)
    (local $cp i32) (local $last i32)
    (local $x0 v128) (local $x1 v128) (local $w v128) ${accLocals}
    (local.set $kb (i32.shl (local.get $k) (i32.const 2)))
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $i0 (i32.const 0))
    (block $doneM (loop $loopM
      (br_if $doneM (i32.ge_u (local.get $i0) (local.get $m)))
      (local.set $iend (i32.add (local.get $i0) (i32.const 64)))
      (if (i32.gt_u (local.get $iend) (local.get $m)) (then (local.set $iend (local.get $m))))
      (local.set $j (local.get $j0))
      (block $doneJ (loop $loopJ
        (br_if $doneJ (i32.ge_u (local.get $j) (local.get $j1)))
        (local.set $b0 (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $ldb))))
        (local.set $b1 (i32.add (local.get $b0) (local.get $ldb)))
        (local.set $b2 (i32.add (local.get $b1) (local.get $ldb)))
        (local.set $b3 (i32.add (local.get $b2) (local.get $ldb)))
        (local.set $i (local.get $i0))
        (block $doneI (loop $loopI
          (br_if $doneI (i32.ge_u (local.get $i) (local.get $iend)))
          (local.set $a0 (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $lda))))
          (local.set $last (i32.ge_u (i32.add (local.get $i) (i32.const 1)) (local.get $iend)))
          (local.set $a1 (select (local.get $a0) (i32.add (local.get $a0) (local.get $lda)) (local.get $last)))
          ${zero}
          (local.set $p (i32.const 0))
          (block $doneK (loop $loopK
            (br_if $doneK (i32.ge_u (local.get $p) (local.get $kb)))
            ${kStep()}
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (br $loopK)))
          (local.set $cp (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2))))
          ${[0, 1, 2, 3].map((q) => store(0, q)).join("\n")}
          (if (i32.eqz (local.get $last)) (then
            ${[0, 1, 2, 3].map((q) => store(1, q)).join("\n")}))
          (local.set $i (i32.add (local.get $i) (i32.const 2)))
          (br $loopI)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $loopJ)))
      (local.set $i0 (local.get $iend))
      (br $loopM)))
  )`;
}

/** The kernel module: `nt` (dot-product form) and `mm` (axpy form, see mm-wat.ts) over one shared memory. */
export function kernelModuleWat(): string {
  return `(module
  (import "env" "memory" (memory 1 65536 shared))
  ${ntFunc()}
  ${mmFunc()}
)`;
}
