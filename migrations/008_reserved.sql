-- Intentionally empty: keeps the migration sequence contiguous.
SELECT 1;
