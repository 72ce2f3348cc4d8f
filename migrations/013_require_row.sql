-- nextoria_require aborts the statement, and with it the transaction it runs
-- in, with SQLSTATE NX001 when ok is not true. Conditional writes that the
-- server sends in one batch (redeeming a code, rotating a refresh token) end
-- with it: a write that changed nothing must undo the whole batch, and the
-- distinct code tells the server which refusal to answer.
CREATE FUNCTION nextoria_require(ok boolean, what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'no %', what USING ERRCODE = 'NX001';
    END IF;
END
$$;

-- A refresh deletes the access tokens of its grant (RotateRefreshToken), and
-- a revocation every access token of a grant: without this index both scan
-- the whole table.
CREATE INDEX oauth_access_tokens_request_idx ON oauth_access_tokens (request_id);
