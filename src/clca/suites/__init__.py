"""Evaluation suites beyond the 44 WVS questions: GlobalOpinionQA, NormAd and CulturalBench, each a declarative
task file (`suites/tasks/*.yaml`: data source, prompt template, option set, metric) run by one runner."""
