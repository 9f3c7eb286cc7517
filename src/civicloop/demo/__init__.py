"""The demo city: Taiyuan's real districts with generated streets, communities, unit grids, components
and duty grids, loaded into a city's stores so ``civicloop demo`` shows the whole loop at once."""
