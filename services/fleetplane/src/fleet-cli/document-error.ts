/** Where a document came from: its file and its place in it (1-based, as a reader counts "---" sections). */
export interface DocumentSource {
  file: string;
  index: number;
}

/**
 * Something wrong with one document of `fleetplane apply`: the file, the
 * document's number in it, the field, and what is wrong. Nothing is applied
 * while any document has one.
 */
export class DocumentError extends Error {
  constructor(
    readonly source: DocumentSource,
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${source.file}, document ${source.index}${field ? `, field ${field}` : ""}: ${problem}`);
    this.name = "DocumentError";
  }
}
