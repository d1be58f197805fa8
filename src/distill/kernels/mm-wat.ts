/**
 * WebAssembly text of the f32 `mm` micro-kernel, the axpy form: C[i, j] (+)= Σ_p A(i, p)·B[p, j] with B row-major
 * [k, n] and A addressed through byte strides, A(i, p) at a + i·sai + p·sap. The same code serves
 *   nn (A [m, k] row-major: sai = 4k, sap = 4)  and  tn (A stored [k, m]: sai = 4, sap = 4m),
 * so neither operand is ever transposed. Blocks of 4 rows × 8 columns keep 8 f32x4 accumulators in registers;
 * each step loads one B row segment (2 vectors) and splats 4 A values. Results are stored as whole vectors
 * (no horizontal sums). Requirements: m is a multiple of 4, n and the column range [j0, j1) multiples of 8.
 */
const ROWS = 4;
const acc = (r: number, h: number) => `$c${r}${h}`;
const rows = Array.from({ length: ROWS }, (_, r) => r);

function step(): string {
  const lines = [
    "(local.set $b0 (v128.load (local.get $bp)))",
    "(local.set $b1 (v128.load offset=16 (local.get $bp)))",
  ];
  for (const r of rows) {
    lines.push(`(local.set $x (f32x4.splat (f32.load (local.get $a${r}))))`);
    for (const h of [0, 1]) {
      lines.push(`(local.set ${acc(r, h)} (f32x4.add (local.get ${acc(r, h)}) (f32x4.mul (local.get $x) (local.get $b${h}))))`);
    }
    lines.push(`(local.set $a${r} (i32.add (local.get $a${r}) (local.get $sap)))`);
  }
  return lines.join("\n");
}

function store(r: number): string {
  const out: string[] = [];
  for (const h of [0, 1]) {
    const off = h === 0 ? "" : " offset=16";
    out.push(`(if (local.get $accum)
      (then (v128.store${off} (local.get $cq) (f32x4.add (v128.load${off} (local.get $cq)) (local.get ${acc(r, h)}))))
      (else (v128.store${off} (local.get $cq) (local.get ${acc(r, h)}))))`);
  }
  out.push("(local.set $cq (i32.add (local.get $cq) (local.get $nb)))");
  return out.join("\n");
}

export function mmFunc(): string {
  const accLocals = rows.flatMap((r) => [0, 1].map((h) => `(local ${acc(r, h)} v128)`)).join(" ");
  const zero = rows.flatMap((r) => [0, 1].map((h) => `(local.set ${acc(r, h)} (v128.const i32x4 0 0 0 0))`)).join("\n");
  const aStarts = rows
    .map((r) => `(local.set $a${r} (i32.add (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const ${r})) (local.get $sai))))`)
    .join("\n");
  return `
  (func (export "mm")
    (param $a i32) (param $b i32) (param $c i32) (param $m i32) (param $n i32) (param $k i32)
    (param $sai i32) (param $sap i32) (param $accum i32) (param $j0 i32) (param $j1 i32)
    (local $nb i32) (local $i i32) (local $j i32) (local $p i32) (local $bp i32) (local $cq i32)
    ${rows.map((r) => `(local $a${r} i32)`).join(" ")}
    (local $b0 v128) (local $b1 v128) (local $x v128) ${accLocals}
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $j (local.get $j0))
    (block $doneJ (loop $loopJ
      (br_if $doneJ (i32.ge_u (local.get $j) (local.get $j1)))
      (local.set $i (i32.const 0))
      (block $doneI (loop $loopI
        (br_if $doneI (i32.ge_u (local.get $i) (local.get $m)))
        ${aStarts}
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
        ${zero}
        (local.set $p (local.get $k))
        (block $doneP (loop $loopP
          (br_if $doneP (i32.eqz (local.get $p)))
          ${step()}
          (local.set $bp (i32.add (local.get $bp) (local.get $nb)))
          (local.set $p (i32.sub (local.get $p) (i32.const 1)))
          (br $loopP)))
        (local.set $cq (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2))))
        ${rows.map(store).join("\n")}
        (local.set $i (i32.add (local.get $i) (i32.const ${ROWS})))
        (br $loopI)))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (br $loopJ)))
  )`;
}
