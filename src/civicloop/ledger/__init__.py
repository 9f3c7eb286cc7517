"""Work ledgers and target-responsibility assessment (工作台账与目标责任考核).

``models`` vocabulary · ``scoring`` the pure scoring rules · ``tables`` schema · ``indicators`` where a
figure comes from (the one adapter into the KPI engine, the ledgers) · ``tabular`` CSV/XLSX import and
export · ``service`` the use cases · ``assessment`` scoring a period · ``report`` XLSX/PDF in Chinese ·
``demo`` a year of ledgers and targets for the demo city · ``cli`` the commands. See docs/ledgers.md.
"""
