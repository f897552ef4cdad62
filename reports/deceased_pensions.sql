-- Pensions paid after death.
-- Links every payment to its person (through the insured-persons table), the person to the
-- earliest death evidence (household-register cancellation for death, cremation, ...), and keeps
-- payments for months after the month of death: the payment for the month of death is legitimate.
WITH evidence AS (
    SELECT person_key, evidence, MIN(death_date) AS death_date
    FROM death
    WHERE person_key IS NOT NULL AND death_date IS NOT NULL
    GROUP BY person_key, evidence
),
first_death AS (
    SELECT person_key,
           MIN(death_date) AS death_date,
           array_to_string(array_agg(evidence ORDER BY evidence), ',') AS evidence
    FROM evidence
    GROUP BY person_key
),
paid_after_death AS (
    -- One row per person and month, however many payment rows the month has.
    SELECT pp.person_key, pp.month, SUM(pp.amount) AS amount
    FROM pension_payment pp
    JOIN first_death d ON d.person_key = pp.person_key
    WHERE date_part('year', pp.month) * 12 + date_part('month', pp.month)
        > date_part('year', d.death_date) * 12 + date_part('month', d.death_date)
    GROUP BY pp.person_key, pp.month
)
SELECT p.person_key,
       p.citizen_id,
       p.name,
       d.death_date,
       d.evidence AS death_evidence,
       COUNT(*) AS months_paid_after_death,
       MIN(a.month) AS first_month_after_death,
       MAX(a.month) AS last_month_paid,
       ROUND(SUM(a.amount), 2) AS amount_overpaid
FROM paid_after_death a
JOIN first_death d ON d.person_key = a.person_key
JOIN person p ON p.person_key = a.person_key
GROUP BY p.person_key, p.citizen_id, p.name, d.death_date, d.evidence
ORDER BY amount_overpaid DESC, p.person_key
