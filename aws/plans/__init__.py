"""Plans: what a change to AWS is and how a plan is applied (`change`), what the user chose (`choices`),
what the choices point at (`targets`), building a plan from them (`build`) and reading a plan file (`file`).
"""
