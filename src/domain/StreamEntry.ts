/** A Redis Stream entry as read: its id and the flat field/value list Redis returns. */
export interface StreamEntry {
  readonly id: string
  readonly fields: ReadonlyArray<string>
}

export const fieldValue = (entry: StreamEntry, name: string): string | undefined => {
  const fields = entry.fields
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === name) return fields[i + 1]
  }
  return undefined
}

/** Field/value pairs as an object, for the DLQ and for people reading logs. */
export const fieldsToRecord = (fields: ReadonlyArray<string>): Record<string, string> => {
  const record: Record<string, string> = {}
  for (let i = 0; i + 1 < fields.length; i += 2) record[fields[i] as string] = fields[i + 1] as string
  return record
}
