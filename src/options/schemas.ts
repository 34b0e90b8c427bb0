import * as v from "valibot";

/** A whole number from `min` to `max`, its messages in the option's unit ("must be at least 100 ms"). */
export const int = (min: number, max: number, unit?: string) => {
  const inUnit = (n: number) => (unit ? `${n} ${unit}` : String(n));
  return v.pipe(
    v.number(),
    v.integer("must be a whole number"),
    v.minValue(min, `must be at least ${inUnit(min)}`),
    v.maxValue(max, `must be at most ${inUnit(max)}`),
  );
};
