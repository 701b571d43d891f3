/** The bucket a value falls in: the first bound it does not exceed, or one past the last. */
export function bucketOf (bounds: readonly number[], value: number): number {
  let bucket = 0
  while (bucket < bounds.length && value > bounds[bucket]!) bucket++
  return bucket
}
