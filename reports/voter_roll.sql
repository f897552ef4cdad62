-- Voter roll of one electoral district ($district; NULL for every district) on one election day
-- (election law, see shared domain notes).
-- Citizens aged 18 or over on election day ($latest_birth_date = election day minus 18 years),
-- registered in the district's household register and still registered there (not moved out),
-- with no death evidence in any feed, and not among the persons the external list of people
-- deprived of political rights names (table `excluded`: the person keys its entries matched,
-- see `pophub match`). Nobody is excluded automatically for anything else.
SELECT p.person_key,
       p.citizen_id,
       p.name,
       p.sex,
       p.birth_date,
       p.district_code,
       p.household_no,
       p.registered_address
FROM person p
LEFT JOIN excluded x ON x.person_key = p.person_key
WHERE ($district IS NULL OR p.district_code = $district)
  AND p.register_status = 'normal'
  AND p.death_date IS NULL
  AND p.birth_date <= $latest_birth_date
  AND x.person_key IS NULL
ORDER BY p.district_code, p.household_no, p.birth_date, p.person_key
