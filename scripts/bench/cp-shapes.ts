/** The deep CP shapes the benches share: the reference's table, and held-out shapes. */
export type CpShape = { id: string; order: number; d: number; R: number; obs: number };

const shape = ([id, order, d, R, obs]: readonly [string, number, number, number, number]): CpShape => ({ id, order, d, R, obs });

/** The reference's sizes (../shared/reference/README.md); R = ∏d / max d. */
export const TABLE_SHAPES: CpShape[] = (
  [
    ["o3_d10", 3, 10, 100, 500],
    ["o4_d10", 4, 10, 1000, 2000],
    ["o3_d30", 3, 30, 900, 3000],
  ] as const
).map(shape);

/** Shapes not tuned for (other d, R and |Ω|, orders 4 and 5), with the depth and variant of their row. */
export const HELD_OUT: (CpShape & { depth: number; variant: "factor" | "component" })[] = (
  [
    ["held-out o3_d20 R400", 3, 20, 400, 1500, 1, "factor"],
    ["held-out o3_d20 R400", 3, 20, 400, 1500, 3, "component"],
    ["held-out o3_d16 R256", 3, 16, 256, 1200, 2, "component"],
    ["held-out o3_d40 R200", 3, 40, 200, 6000, 1, "factor"],
    ["held-out o3_d25 R625", 3, 25, 625, 4000, 2, "factor"],
    ["held-out o4_d8 R512", 4, 8, 512, 1500, 2, "factor"],
    ["held-out o4_d12 R300", 4, 12, 300, 5000, 1, "factor"],
    ["held-out o5_d6 R1296", 5, 6, 1296, 2000, 2, "factor"],
  ] as const
).map(([id, order, d, R, obs, depth, variant]) => ({ ...shape([id, order, d, R, obs]), depth, variant }));
