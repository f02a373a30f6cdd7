"""Result folders: one layout, one writer, one reader.

- `layout`: file names and `run_files`, the one serializer of a run's files;
- `store`: atomic writes (stage, then rename) and the resumable sweep folder;
- `load`: the one reader (`Run`, `Sweep`, `load`) behind `workbench.load`,
  `workbench report` and the notebooks.
"""
