/**
 * The nearest-rank percentile `p` (0–100) of `values` (any order): the value below which `p` % of
 * them lie. 0 when there are none.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;
