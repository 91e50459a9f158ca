"""The training viewer: ``--replay TRAIN.h5`` shows a training recording (``nlviz
train``) as curves per task, parameter group and gate statistic, following a training
that is still running."""
