// Number formatting for the report's tables.
/** A number for a table: 4 significant digits, exponent form when tiny or huge; ∞ and NaN spelt out. */
export function fmt(x: number): string {
  if (x === 0) return "0";
  if (Number.isNaN(x)) return "–";
  if (!Number.isFinite(x)) return x > 0 ? "∞" : "−∞";
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e5 ? String(Number(x.toPrecision(4))) : x.toExponential(3);
}
