import { useState } from "preact/hooks";

/** Page tokens seen so far, so that the operator can go forward and back through a listing. */
export function usePaging() {
  const [tokens, setTokens] = useState<string[]>([""]);
  const token = tokens[tokens.length - 1]!;
  return {
    token,
    page: tokens.length,
    next: (t: string) => setTokens([...tokens, t]),
    previous: () => setTokens(tokens.slice(0, -1)),
    reset: () => setTokens([""]),
  };
}

export function Pager(props: { label: string; paging: ReturnType<typeof usePaging>; nextToken: string | undefined }) {
  const { paging, nextToken } = props;
  return (
    <nav class="pager" aria-label={`${props.label} pages`}>
      <button type="button" class="secondary" disabled={paging.page <= 1} onClick={paging.previous}>
        Previous page
      </button>
      <span aria-live="polite">Page {paging.page}</span>
      <button type="button" class="secondary" disabled={!nextToken} onClick={() => nextToken && paging.next(nextToken)}>
        Next page
      </button>
    </nav>
  );
}
