/** Every numeric precision a candidate can run in: the one list tolerances, formats and reports use. */
export const PRECISIONS = ['fp32', 'tf32', 'fp16', 'bf16', 'int8', 'fp8', 'int4'] as const;

export type Precision = (typeof PRECISIONS)[number];
