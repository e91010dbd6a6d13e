/**
 * The media type of a Content-Type header, lower-cased and without its parameters (`charset`…).
 * Media types are case-insensitive and may carry parameters: RFC 9110 §8.3.1.
 */
export function mediaType(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return (value ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}
