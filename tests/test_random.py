"""funcad.random against JAX: recorded outputs (bit for bit), jit, vmap over keys, grads.

The reference numbers below were recorded once with JAX 0.10.2 (`jax_enable_x64` on, the
default `threefry2x32` generator, `jax_threefry_partitionable` on) in a throw-away
environment; JAX is not needed to run these tests. Draws made only of integer operations
and exact float arithmetic must equal JAX's bit for bit; draws that go through log, tan,
erfinv (and einsum) may differ by a few ulps where XLA's functions round differently.
"""

from __future__ import annotations

import numpy as np
import pytest

import funcad as fa
import funcad.random as jr
from funcad.test_util import check_grads

# name: (dtype, shape, flat values), recorded once with JAX 0.10.2 (jax_enable_x64 on)
JAX = {
    'PRNGKey(0)': ('uint32', (2,), [0, 0]),
    'PRNGKey(42)': ('uint32', (2,), [0, 42]),
    'PRNGKey(-1)': ('uint32', (2,), [4294967295, 4294967295]),
    'PRNGKey(2**40+5)': ('uint32', (2,), [256, 5]),
    'key_data(key(7))': ('uint32', (2,), [0, 7]),
    'split(k42)': ('uint32', (2, 2), [1832780943, 270669613, 64467757, 2916123636]),
    'split(k42,3)': ('uint32', (3, 2), [
        1832780943, 270669613, 64467757, 2916123636, 2465931498, 255383827
    ]),
    'split(k42,(2,2))': ('uint32', (2, 2, 2), [
        1832780943, 270669613, 64467757, 2916123636, 2465931498, 255383827, 3134548294,
        894150801
    ]),
    'fold_in(k42,7)': ('uint32', (2,), [2547012911, 1371500959]),
    'fold_in(k42,2**31+3)': ('uint32', (2,), [1418384349, 3440491138]),
    'bits(k42,(5,),u32)': ('uint32', (5,), [
        2098992034, 2919706841, 2646866425, 2409546199, 1935504149
    ]),
    'bits(k42,(3,),u64)': ('uint64', (3,), [
        7871734211187709741, 276886910877598708, 10591095138341673235
    ]),
    'bits(k42,(),u32)': ('uint32', (), [2098992034]),
    'uniform(k42,(2,3))': ('float64', (2, 3), [
        0.4267275666499091, 0.015010069515314584, 0.5741444178995352, 0.7298188969046309,
        0.687800341230566, 0.6439377419166104
    ]),
    'uniform(k42,(4,),f32)': ('float32', (4,), [
        0.48870956897735596, 0.6797971725463867, 0.6162714958190918, 0.5610160827636719
    ]),
    'uniform(k42,(3,),-2,5)': ('float64', (3,), [
        0.9870929665493635, -1.894929513392798, 2.0190109252967465
    ]),
    'uniform(k42,(3,),mins)': ('float64', (3,), [
        1.2801826999497272, 1.0300201390306292, 2.574144417899535
    ]),
    'uniform(k42,())': ('float64', (), [0.4267275666499091]),
    'normal(k42,(6,))': ('float64', (6,), [
        -0.18471174528191162, -2.169824560397754, 0.18693555179382582, 0.6122653570510959,
        0.4896249504757018, 0.36900430470828355
    ]),
    'normal(k42,(4,),f32)': ('float32', (4,), [
        -0.02830461598932743, 0.4671318531036377, 0.2957029640674591, 0.15354591608047485
    ]),
    'normal(k0,(2,2))': ('float64', (2, 2), [
        -0.2058421394796434, -0.7847657764467411, 1.8160866726679836, 0.1878440128937887
    ]),
    'bernoulli(k42,0.3,(6,))': ('bool', (6,), [False, True, False, False, False, False]),
    'bernoulli(k42,p)': ('bool', (4,), [False, True, True, True]),
    'randint(k42,(6,),0,10)': ('int64', (6,), [5, 8, 3, 1, 5, 6]),
    'randint(k42,(6,),-5,5,i32)': ('int32', (6,), [-1, -1, -4, 4, 4, 4]),
    'randint(k42,(4,),-2**40,2**40)': ('int64', (4,), [
        -64295291339, -359608887618, -961504916329, -77019434961
    ]),
    'randint(k42,(3,),mins,9)': ('int64', (3,), [3, 7, 8]),
    'choice(k42,5,(3,))': ('int64', (3,), [0, 3, 3]),
    'choice(k42,arr,(3,),F)': ('float64', (3,), [14.0, 8.0, 4.0]),
    'choice(k42,5,(4,),p)': ('int64', (4,), [2, 4, 2, 1]),
    'choice(k42,5,(3,),F,p)': ('int64', (3,), [3, 2, 4]),
    'permutation(k42,8)': ('int64', (8,), [7, 4, 2, 5, 3, 6, 0, 1]),
    'permutation(k42,arr2d,axis1)': ('float64', (3, 4), [
        2.0, 3.0, 0.0, 1.0, 6.0, 7.0, 4.0, 5.0, 10.0, 11.0, 8.0, 9.0
    ]),
    'permutation(k42,arr2d,indep)': ('float64', (3, 4), [
        2.0, 3.0, 0.0, 1.0, 7.0, 4.0, 5.0, 6.0, 10.0, 11.0, 8.0, 9.0
    ]),
    'categorical(k42,logits)': ('int64', (2,), [3, 0]),
    'categorical(k42,logits,axis0)': ('int64', (4,), [1, 1, 1, 0]),
    'categorical(k42,logits,shape)': ('int64', (3, 2), [3, 0, 1, 0, 3, 0]),
    'truncated_normal(k42,-1,2,(5,))': ('float64', (5,), [
        0.01998452592513169, -0.9504476695340623, 0.32827144083703297, 0.693751830608632,
        0.587854167389416
    ]),
    'exponential(k42,(5,))': ('float64', (5,), [
        0.5563942243855916, 0.015123860720489336, 0.8536549993431988, 1.30866279263241,
        1.1641123638884814
    ]),
    'laplace(k42,(5,))': ('float64', (5,), [
        0.15846230602649014, 3.5058868215207473, -0.16050781878325354, -0.6155156120724649,
        -0.4709651833285354
    ]),
    'logistic(k42,(5,))': ('float64', (5,), [
        -0.29521526220084393, -4.183910141360207, 0.29878068416298553, 0.9937039305821678,
        0.7898556790232676
    ]),
    'cauchy(k42,(5,))': ('float64', (5,), [
        -0.23434604341667786, -21.19070234669309, 0.23723777098183235, 0.8806079282226775,
        0.6695443089142641
    ]),
    'gumbel(k42,(5,))': ('float64', (5,), [
        0.16062720630382138, -1.4348544993307841, 0.5890136500161952, 1.1553132453508888,
        0.9828133938106242
    ]),
    'rademacher(k42,(6,))': ('int64', (6,), [1, 1, -1, -1, -1, -1]),
    'multivariate_normal(k42,mean,cov,(2,))': ('float64', (2, 3), [
        0.738778144692716, -3.159624832518837, 0.2028431059262692, 1.8658739717128654,
        -0.3916373210211468, 0.8860267588102622
    ]),
    'multivariate_normal(k42,mean,cov)': ('float64', (3,), [
        0.738778144692716, -3.159624832518837, 0.2028431059262692
    ]),
}

# gamma family, poisson, orthogonal and reparameterised gradients (same recording)
JAX.update({
    'gamma(k42,[0.5,1,3],(3,))': ('float64', (3,), [
        0.19865354933259452, 0.5161877343182824, 6.518719415882062
    ]),
    'beta(k42,2,3,(3,))': ('float64', (3,), [
        0.35249271773961444, 0.4080000479067667, 0.041704708867309884
    ]),
    'dirichlet(k42,alpha)': ('float64', (3,), [
        0.12087604773245773, 0.15736891871086628, 0.721755033556676
    ]),
    't(k42,3,(3,))': ('float64', (3,), [
        -0.6930095592523876, -0.5820081154139338, 2.1891397152153647
    ]),
    'poisson(k42,[0.5,3,20],(3,))': ('int64', (3,), [1, 2, 15]),
    'orthogonal(k42,3)': ('float64', (3, 3), [
        -0.24985348168396393, -0.9679399318215844, 0.025797792068838043, 0.8281911415011259,
        -0.19982480469811717, 0.5236119560957534, 0.5016698823224919, -0.1521917731435747,
        -0.851566200220483
    ]),
    'grad gamma(k42,a)': ('float64', (3,), [
        0.7907794298746188, 0.8217798569927198, 1.5190997388116978
    ]),
    'grad loggamma(k42,a)': ('float64', (3,), [
        3.9806962046807484, 1.5920174044391546, 0.2330365278662857
    ]),
    'loggamma(k42,a)': ('float64', (3,), [
        -1.6161929296141218, -0.6612847534710552, 1.8746779480408196
    ]),
    'grad beta(k42,a,b)': ('float64', (2,), [0.39655553925476583, -0.2237169332760741]),
    'grad dirichlet(k42,alpha)': ('float64', (3,), [
        0.1131306763425846, -0.21840232828333664, 0.056006385345432244
    ]),
    'grad t(k42,df)': ('float64', (), [-0.03141418228740056]),
    'gamma(k42,0.2,(4,),f32)': ('float32', (4,), [
        0.1670919954776764, 0.21176989376544952, 0.630388081073761, 0.00032318514422513545
    ]),
    'poisson(k42,[1,7,15,40],(2,4))': ('int64', (2, 4), [1, 5, 11, 35, 0, 4, 13, 31]),
    'orthogonal(k42,3,(2,),m=5)': ('float64', (2, 3, 5), [
        -0.16158502045427015, 0.5356070351213917, 0.3244394981011543, -0.5551665685042897,
        0.5230147974773833, -0.9707617547727446, -0.17321412262694816, -0.13591485364279005,
        0.08214247117124313, 0.048971932596732486, 0.05152583704152164, -0.11470874600190745,
        -0.6963456666080963, -0.6872690018089544, -0.16416766873075334, -0.37732305492634777,
        -0.3918513167482731, -0.6043779880186363, -0.112987374957021, -0.5709999636449719,
        -0.6029645703253419, 0.4707760343105799, 1.5805139200990937e-07, 0.6419774242682807,
        -0.051658873207014074, 0.175674240972331, 0.0032126593173432785, 0.6004111304584158,
        0.10038694925391493, -0.7736647689536116
    ]),
    'gamma(k42,[2,200],(2,))': ('float64', (2,), [2.2980183424083127, 196.85085931469274]),
})

# more dtypes and modes (same recording)
JAX.update({
    'categorical(k42,logits,shape,F)': ('int32', (3, 2), [3, 0, 0, 2, 2, 1]),
    'choice(k42,arr2d,(2,),axis1)': ('float64', (3, 2), [1.0, 2.0, 5.0, 6.0, 9.0, 10.0]),
    'bernoulli(k42,0.3,(5,),high)': ('bool', (5,), [False, True, False, False, False]),
    'uniform(k42,(4,),f32,-3,2)': ('float32', (4,), [
        -0.5564521551132202, 0.3989858627319336, 0.08135747909545898, -0.19491958618164062
    ]),
    'randint(k42,(5,),0,256,u8)': ('uint8', (5,), [196, 18, 183, 193, 141]),
    'randint(k42,(4,),-3,3,i8)': ('int8', (4,), [-3, -3, 0, -2]),
    'rademacher(k42,(4,),f32)': ('float32', (4,), [1.0, 1.0, -1.0, -1.0]),
    'exponential(k42,(3,),f32)': ('float32', (3,), [
        0.670817494392395, 1.1388006210327148, 0.9578199982643127
    ]),
    'split(fold_in(k42,3),4)': ('uint32', (4, 2), [
        2463158877, 4047937370, 1914800406, 1741898942, 860575112, 1044708347, 3604929758,
        1240868630
    ]),
    'bits(k42,(2,3),u8)': ('uint8', (2, 3), [162, 217, 249, 215, 21, 216]),
    'permutation(k42,2000)[:8]': ('int64', (8,), [1474, 815, 539, 874, 1693, 84, 995, 1191]),
})

# the remaining samplers (same recording)
JAX.update({
    'pareto(k42,3,(3,))': ('float64', (3,), [
        1.203777755582976, 1.0050540155743009, 1.3291659848108275
    ]),
    'chisquare(k42,4,(3,))': ('float64', (3,), [
        4.596036684816625, 2.8426371224644464, 9.933445632692651
    ]),
    'f(k42,3,5,(3,))': ('float64', (3,), [
        1.158641615967818, 0.4334901445978058, 6.869564969322846
    ]),
    'maxwell(k42,(3,))': ('float64', (3,), [
        2.1856811186160847, 0.866467331447922, 0.8407561365101462
    ]),
    'weibull_min(k42,2,1.5,(3,))': ('float64', (3,), [
        1.3529603556444487, 0.12231276251644208, 1.7997751636072923
    ]),
    'rayleigh(k42,2,(3,))': ('float64', (3,), [
        2.6101486342144358, 5.795884058247333, 2.1068921475580344
    ]),
    'geometric(k42,0.3,(4,))': ('int64', (4,), [3, 12, 2, 1]),
    'lognormal(k42,0.5,(3,))': ('float64', (3,), [
        0.9117806140267735, 0.33793142787224595, 1.0979752215045038
    ]),
    'double_sided_maxwell(k42,1,2,(3,))': ('float64', (3,), [
        -2.6956351413757687, -3.6877952518604795, 4.7138077011187836
    ]),
    'wald(k42,1.5,(3,))': ('float64', (3,), [
        3.529976562489182, 1.0915612562479036, 0.24683423568313878
    ]),
    'generalized_normal(k42,1.5,(3,))': ('float64', (3,), [
        -0.4028062414861481, -0.09948843483645729, 0.35442502223499145
    ]),
    'triangular(k42,0,1,3,(4,))': ('float64', (4,), [
        1.1453748087280424, 0.21220322463606378, 1.4015215069939824, 1.7267810013307943
    ]),
    'grad chisquare(k42,df)': ('float64', (), [3.7273495434047006]),
    'grad lognormal(k42,sigma)': ('float64', (), [-0.6964178965706872]),
})

JAX_ERFINV_X = np.linspace(-0.999999, 0.999999, 41)
JAX_ERFINV = np.array([
    -3.4589107372739605, -1.3858980775339567, -1.1630840684492147, -1.0179003418491872,
    -0.9061921907844714, -0.8134185594741411, -0.7328680165057903, -0.6608535338310901,
    -0.5951153237328796, -0.5341584393796347, -0.4769357199122078, -0.42267976183487294,
    -0.37080675185113904, -0.32085797790116233, -0.27246242837066903, -0.22531182191763163,
    -0.1791432715954281, -0.13372678633215523, -0.08885590116908579, -0.044340343511454314,
    9.839095376804142e-17, 0.04434034351145441, 0.08885590116908598, 0.13372678633215532,
    0.1791432715954281, 0.22531182191763174, 0.27246242837066903, 0.32085797790116244,
    0.37080675185113904, 0.42267976183487316, 0.47693571991220796, 0.5341584393796349,
    0.5951153237328797, 0.6608535338310901, 0.7328680165057904, 0.8134185594741412,
    0.9061921907844718, 1.0179003418491877, 1.1630840684492154, 1.3858980775339573,
    3.4589107372739605
])

K0 = np.array([0, 0], np.uint32)
K42 = np.array([0, 42], np.uint32)
ARR2D = np.arange(12.0).reshape(3, 4)
LOGITS = np.array([[0.1, 1.0, -0.5, 0.3], [2.0, 0.0, 0.0, -1.0]])
MEAN = np.array([1.0, -1.0, 0.5])
COV = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 0.5]])
P5 = np.array([0.1, 0.2, 0.3, 0.3, 0.1])

# name in JAX -> (function of the key, exact?)
ROWS = {
    "PRNGKey(42)": (lambda k: jr.PRNGKey(42), True),
    "split(k42)": (lambda k: jr.split(k), True),
    "split(k42,3)": (lambda k: jr.split(k, 3), True),
    "split(k42,(2,2))": (lambda k: jr.split(k, (2, 2)), True),
    "fold_in(k42,7)": (lambda k: jr.fold_in(k, 7), True),
    "fold_in(k42,2**31+3)": (lambda k: jr.fold_in(k, 2**31 + 3), True),
    "bits(k42,(5,),u32)": (lambda k: jr.bits(k, (5,), np.uint32), True),
    "bits(k42,(3,),u64)": (lambda k: jr.bits(k, (3,), np.uint64), True),
    "bits(k42,(),u32)": (lambda k: jr.bits(k, (), np.uint32), True),
    "uniform(k42,(2,3))": (lambda k: jr.uniform(k, (2, 3)), True),
    "uniform(k42,(4,),f32)": (lambda k: jr.uniform(k, (4,), np.float32), True),
    "uniform(k42,(3,),-2,5)": (lambda k: jr.uniform(k, (3,), minval=-2.0, maxval=5.0), True),
    "uniform(k42,(3,),mins)": (lambda k: jr.uniform(k, (3,), minval=np.array([0.0, 1.0, 2.0]),
                                                    maxval=3.0), True),
    "uniform(k42,())": (lambda k: jr.uniform(k, ()), True),
    "normal(k42,(6,))": (lambda k: jr.normal(k, (6,)), False),
    "normal(k42,(4,),f32)": (lambda k: jr.normal(k, (4,), np.float32), False),
    "bernoulli(k42,0.3,(6,))": (lambda k: jr.bernoulli(k, 0.3, (6,)), True),
    "bernoulli(k42,p)": (lambda k: jr.bernoulli(k, np.array([0.1, 0.5, 0.9, 0.99])), True),
    "randint(k42,(6,),0,10)": (lambda k: jr.randint(k, (6,), 0, 10), True),
    "randint(k42,(6,),-5,5,i32)": (lambda k: jr.randint(k, (6,), -5, 5, np.int32), True),
    "randint(k42,(4,),-2**40,2**40)": (lambda k: jr.randint(k, (4,), -2**40, 2**40), True),
    "randint(k42,(3,),mins,9)": (lambda k: jr.randint(k, (3,), np.array([0, 3, 8]), 9), True),
    "choice(k42,5,(3,))": (lambda k: jr.choice(k, 5, (3,)), True),
    "choice(k42,arr,(3,),F)": (lambda k: jr.choice(k, np.arange(10.0) * 2, (3,),
                                                   replace=False), True),
    "choice(k42,5,(4,),p)": (lambda k: jr.choice(k, 5, (4,), p=P5), True),
    "choice(k42,5,(3,),F,p)": (lambda k: jr.choice(k, 5, (3,), replace=False, p=P5), True),
    "permutation(k42,8)": (lambda k: jr.permutation(k, 8), True),
    "permutation(k42,arr2d,axis1)": (lambda k: jr.permutation(k, ARR2D, axis=1), True),
    "permutation(k42,arr2d,indep)": (lambda k: jr.permutation(k, ARR2D, axis=1,
                                                              independent=True), True),
    "categorical(k42,logits)": (lambda k: jr.categorical(k, LOGITS), True),
    "categorical(k42,logits,axis0)": (lambda k: jr.categorical(k, LOGITS, axis=0), True),
    "categorical(k42,logits,shape)": (lambda k: jr.categorical(k, LOGITS, shape=(3, 2)), True),
    "truncated_normal(k42,-1,2,(5,))": (lambda k: jr.truncated_normal(k, -1.0, 2.0, (5,)),
                                        False),
    "exponential(k42,(5,))": (lambda k: jr.exponential(k, (5,)), False),
    "laplace(k42,(5,))": (lambda k: jr.laplace(k, (5,)), False),
    "logistic(k42,(5,))": (lambda k: jr.logistic(k, (5,)), False),
    "cauchy(k42,(5,))": (lambda k: jr.cauchy(k, (5,)), False),
    "gumbel(k42,(5,))": (lambda k: jr.gumbel(k, (5,)), False),
    "rademacher(k42,(6,))": (lambda k: jr.rademacher(k, (6,)), True),
    "multivariate_normal(k42,mean,cov,(2,))": (
        lambda k: jr.multivariate_normal(k, MEAN, COV, (2,)), False),
    "multivariate_normal(k42,mean,cov)": (lambda k: jr.multivariate_normal(k, MEAN, COV),
                                          False),
    "gamma(k42,[0.5,1,3],(3,))": (lambda k: jr.gamma(k, np.array([0.5, 1.0, 3.0])), False),
    "gamma(k42,[2,200],(2,))": (lambda k: jr.gamma(k, np.array([2.0, 200.0])), False),
    "gamma(k42,0.2,(4,),f32)": (lambda k: jr.gamma(k, 0.2, (4,), np.float32), False),
    "loggamma(k42,a)": (lambda k: jr.loggamma(k, np.array([0.5, 1.0, 3.0])), False),
    "beta(k42,2,3,(3,))": (lambda k: jr.beta(k, 2.0, 3.0, (3,)), False),
    "dirichlet(k42,alpha)": (lambda k: jr.dirichlet(k, np.array([1.0, 2.0, 3.0])), False),
    "t(k42,3,(3,))": (lambda k: jr.t(k, 3.0, (3,)), False),
    "poisson(k42,[0.5,3,20],(3,))": (lambda k: jr.poisson(k, np.array([0.5, 3.0, 20.0])), True),
    "poisson(k42,[1,7,15,40],(2,4))": (lambda k: jr.poisson(k, np.array([1.0, 7.0, 15.0, 40.0]),
                                                            (2, 4)), True),
    "orthogonal(k42,3)": (lambda k: jr.orthogonal(k, 3), False),
    "orthogonal(k42,3,(2,),m=5)": (lambda k: jr.orthogonal(k, 3, (2,), m=5), False),
    "categorical(k42,logits,shape,F)": (lambda k: jr.categorical(k, LOGITS, shape=(3, 2),
                                                                 replace=False), True),
    "choice(k42,arr2d,(2,),axis1)": (lambda k: jr.choice(k, ARR2D, (2,), axis=1), True),
    "bernoulli(k42,0.3,(5,),high)": (lambda k: jr.bernoulli(k, 0.3, (5,), mode="high"), True),
    "uniform(k42,(4,),f32,-3,2)": (lambda k: jr.uniform(k, (4,), np.float32, -3.0, 2.0),
                                   True),
    "randint(k42,(5,),0,256,u8)": (lambda k: jr.randint(k, (5,), 0, 256, np.uint8), True),
    "randint(k42,(4,),-3,3,i8)": (lambda k: jr.randint(k, (4,), -3, 3, np.int8), True),
    "rademacher(k42,(4,),f32)": (lambda k: jr.rademacher(k, (4,), np.float32), True),
    "exponential(k42,(3,),f32)": (lambda k: jr.exponential(k, (3,), np.float32), False),
    "split(fold_in(k42,3),4)": (lambda k: jr.split(jr.fold_in(k, 3), 4), True),
    "bits(k42,(2,3),u8)": (lambda k: jr.bits(k, (2, 3), np.uint8), True),
    "permutation(k42,2000)[:8]": (lambda k: jr.permutation(k, 2000)[:8], True),
    "pareto(k42,3,(3,))": (lambda k: jr.pareto(k, 3.0, (3,)), False),
    "chisquare(k42,4,(3,))": (lambda k: jr.chisquare(k, 4.0, (3,)), False),
    "f(k42,3,5,(3,))": (lambda k: jr.f(k, 3.0, 5.0, (3,)), False),
    "maxwell(k42,(3,))": (lambda k: jr.maxwell(k, (3,)), False),
    "weibull_min(k42,2,1.5,(3,))": (lambda k: jr.weibull_min(k, 2.0, 1.5, (3,)), False),
    "rayleigh(k42,2,(3,))": (lambda k: jr.rayleigh(k, 2.0, (3,)), False),
    "geometric(k42,0.3,(4,))": (lambda k: jr.geometric(k, 0.3, (4,)), True),
    "lognormal(k42,0.5,(3,))": (lambda k: jr.lognormal(k, 0.5, (3,)), False),
    "double_sided_maxwell(k42,1,2,(3,))": (lambda k: jr.double_sided_maxwell(k, 1.0, 2.0, (3,)),
                                           False),
    "wald(k42,1.5,(3,))": (lambda k: jr.wald(k, 1.5, (3,)), False),
    "generalized_normal(k42,1.5,(3,))": (lambda k: jr.generalized_normal(k, 1.5, (3,)), False),
    "triangular(k42,0,1,3,(4,))": (lambda k: jr.triangular(k, 0.0, 1.0, 3.0, (4,)), False),
}
# (the generated source of these loops runs as Python per element in the test suite: slow)
SLOW_TO_JIT = {"gamma(k42,[2,200],(2,))", "beta(k42,2,3,(3,))", "dirichlet(k42,alpha)",
               "t(k42,3,(3,))", "loggamma(k42,a)", "poisson(k42,[1,7,15,40],(2,4))",
               "permutation(k42,2000)[:8]", "chisquare(k42,4,(3,))", "f(k42,3,5,(3,))",
               "generalized_normal(k42,1.5,(3,))"}


def _reference(name):
    dtype, shape, values = JAX[name]
    return np.array(values, dtype=dtype).reshape(shape)


def _assert_matches(got, ref, exact):
    got = np.asarray(got)
    assert got.dtype == ref.dtype and got.shape == ref.shape, (got.dtype, got.shape,
                                                              ref.dtype, ref.shape)
    if exact:
        np.testing.assert_array_equal(got, ref)
    else:
        # a few ulps of the transcendental functions XLA and NumPy round differently
        # (and the rounding of QR and einsum: atol for entries near 0)
        np.testing.assert_allclose(got, ref, rtol=64 * np.finfo(ref.dtype).eps,
                                   atol=16 * np.finfo(ref.dtype).eps)


@pytest.mark.parametrize("name", list(ROWS))
def test_matches_jax(name):
    fn, exact = ROWS[name]
    _assert_matches(fn(K42), _reference(name), exact)


@pytest.mark.parametrize("name", [n for n in ROWS if n not in SLOW_TO_JIT])
def test_jit_and_vmap_over_keys(name):
    fn, exact = ROWS[name]
    eager = np.asarray(fn(K42))
    # (float rows: a matrix product may sum in another order under jit)
    _assert_matches(fa.jit(fn)(K42), eager, exact)
    keys = jr.split(K0, 3)
    loop = np.stack([np.asarray(fn(k)) for k in keys])
    _assert_matches(fa.vmap(fn)(keys), loop, exact)


def test_keys_from_seeds():
    for seed, name in [(0, "0"), (42, "42"), (-1, "-1"), (2**40 + 5, "2**40+5")]:
        _assert_matches(jr.PRNGKey(seed), _reference(f"PRNGKey({name})"), True)
    _assert_matches(jr.key_data(jr.key(7)), _reference("key_data(key(7))"), True)
    np.testing.assert_array_equal(jr.PRNGKey(np.int32(-1)), [0, 2**32 - 1])  # 32-bit seed
    np.testing.assert_array_equal(fa.jit(jr.PRNGKey)(2**40 + 5), jr.PRNGKey(2**40 + 5))
    np.testing.assert_array_equal(fa.vmap(jr.PRNGKey)(np.arange(3)),
                                  np.stack([jr.PRNGKey(i) for i in range(3)]))


def test_normal_matches_jax_on_more_draws():
    _assert_matches(jr.normal(K0, (2, 2)), _reference("normal(k0,(2,2))"), False)


def test_erfinv_matches_xla():
    from funcad.scipy.special import erfinv
    got = erfinv(JAX_ERFINV_X)
    np.testing.assert_allclose(got, JAX_ERFINV, rtol=2 * np.finfo(float).eps, atol=0)
    # evaluated as XLA does (fused multiply-adds): nearly every value is bit-identical
    assert np.sum(got == JAX_ERFINV) >= len(JAX_ERFINV) - 2


def test_vmap_over_parameters():
    mins = np.array([[0.0], [1.0], [-3.0]])
    out = fa.vmap(lambda m: jr.uniform(K42, (2,), minval=m, maxval=4.0))(mins)
    np.testing.assert_array_equal(out, np.stack([jr.uniform(K42, (2,), minval=m, maxval=4.0)
                                                 for m in mins]))
    ps = np.array([0.1, 0.5, 0.9])
    out = fa.vmap(lambda p: jr.bernoulli(K42, p, (4,)))(ps)
    np.testing.assert_array_equal(out, np.stack([jr.bernoulli(K42, p, (4,)) for p in ps]))
    data = np.arange(4)
    out = fa.vmap(lambda d: jr.fold_in(K42, d))(data)
    np.testing.assert_array_equal(out, np.stack([jr.fold_in(K42, int(d)) for d in data]))


# -- derivatives (reparameterised samplers), checked against finite differences ---------


def test_grad_uniform_bounds():
    check_grads(lambda lo, hi: jr.uniform(K42, (4,), minval=lo, maxval=hi),
                (np.array(-1.5), np.array(2.5)), order=2)


def test_grad_location_scale_normal():
    def f(loc, scale):
        return loc + scale * jr.normal(K42, (3,))
    check_grads(f, (np.array(0.3), np.array(1.7)), order=2)
    g = fa.grad(lambda m: (m + 2.0 * jr.normal(K42, (3,))).sum())(1.0)
    assert float(g) == 3.0  # JAX gives 3.0 as well


def test_grad_truncated_normal_bounds():
    check_grads(lambda lo, hi: jr.truncated_normal(K42, lo, hi, (4,)),
                (np.array(-0.7), np.array(1.3)), order=2, atol=1e-4, rtol=1e-4)


def test_grad_multivariate_normal():
    def f(mean, a):
        cov = a @ a.T + np.eye(3)
        return jr.multivariate_normal(K42, mean, cov, (2,))
    a = np.array([[1.0, 0.2, 0.0], [0.3, 0.8, 0.1], [0.0, -0.2, 0.6]])
    check_grads(f, (MEAN, a), order=2)
    gj = fa.jit(fa.grad(lambda m, a: f(m, a).sum(), argnums=1))(MEAN, a)
    np.testing.assert_allclose(gj, fa.grad(lambda m, a: f(m, a).sum(), argnums=1)(MEAN, a))


def test_grad_of_vmap_over_keys():
    keys = jr.split(K42, 4)

    def loss(scale):
        return fa.vmap(lambda k: scale * jr.normal(k, (2,)))(keys).sum()
    expected = sum(float(np.sum(jr.normal(k, (2,)))) for k in keys)
    np.testing.assert_allclose(fa.grad(loss)(1.5), expected, rtol=1e-12)


def _grad_matches(name, got):
    dtype, shape, values = JAX[name]
    np.testing.assert_allclose(got, np.array(values, dtype).reshape(shape), rtol=1e-12)


def test_grad_gamma_family_matches_jax():
    a = np.array([0.5, 1.0, 3.0])
    _grad_matches("grad gamma(k42,a)", fa.grad(lambda a: jr.gamma(K42, a).sum())(a))
    _grad_matches("grad loggamma(k42,a)", fa.grad(lambda a: jr.loggamma(K42, a).sum())(a))
    _grad_matches("grad beta(k42,a,b)", np.array(fa.grad(
        lambda a, b: jr.beta(K42, a, b, (3,)).sum(), argnums=(0, 1))(2.0, 3.0)))
    w = np.array([1.0, -2.0, 0.5])
    _grad_matches("grad dirichlet(k42,alpha)", fa.grad(
        lambda al: (jr.dirichlet(K42, al) * w).sum())(np.array([1.0, 2.0, 3.0])))
    _grad_matches("grad t(k42,df)", fa.grad(lambda df: jr.t(K42, df, (3,)).sum())(3.0))
    _grad_matches("grad chisquare(k42,df)",
                  fa.grad(lambda df: jr.chisquare(K42, df, (3,)).sum())(4.0))
    _grad_matches("grad lognormal(k42,sigma)",
                  fa.grad(lambda s: jr.lognormal(K42, s, (3,)).sum())(0.5))


def test_grad_gamma_is_the_implicit_reparameterisation():
    # d sample / d a = -(dP(a, x)/da) / pdf(x; a): central differences of SciPy's cdf
    import scipy.special as ss
    import scipy.stats as st
    a = np.array([0.3, 1.7, 8.0])
    x = np.asarray(jr.gamma(K0, a))
    h = 1e-6
    expected = -(ss.gammainc(a + h, x) - ss.gammainc(a - h, x)) / (2 * h) / st.gamma.pdf(x, a)
    g = fa.grad(lambda a: jr.gamma(K0, a).sum())
    np.testing.assert_allclose(g(a), expected, rtol=1e-6)
    np.testing.assert_allclose(fa.jit(g)(a), g(a), rtol=1e-12)
    keys = jr.split(K0, 2)

    def grad_for(k):
        return fa.grad(lambda a: jr.gamma(k, a).sum())(a)
    np.testing.assert_allclose(fa.vmap(grad_for)(keys), np.stack([grad_for(k) for k in keys]),
                               rtol=1e-12)


def test_gamma_family_jit_and_vmap():
    keys = jr.split(K0, 2)
    for fn in (lambda k: jr.beta(k, 2.0, 3.0, (2,)), lambda k: jr.t(k, 3.0, (2,)),
               lambda k: jr.poisson(k, np.array([1.0, 15.0]))):
        np.testing.assert_allclose(fa.jit(fn)(K42), fn(K42), rtol=1e-14)
        np.testing.assert_allclose(fa.vmap(fn)(keys), np.stack([fn(k) for k in keys]),
                                   rtol=1e-14)


# -- statistics and errors ---------------------------------------------------------------


def test_distributions_have_the_right_moments():
    k = jr.PRNGKey(3)
    n = 20000
    assert abs(float(np.mean(jr.normal(k, (n,))))) < 0.03
    assert abs(float(np.std(jr.normal(k, (n,)))) - 1) < 0.03
    assert abs(float(np.mean(jr.uniform(k, (n,)))) - 0.5) < 0.01
    assert abs(float(np.mean(jr.exponential(k, (n,)))) - 1) < 0.03
    counts = np.bincount(np.asarray(jr.randint(k, (n,), 0, 4)), minlength=4) / n
    np.testing.assert_allclose(counts, 0.25, atol=0.02)
    t = np.asarray(jr.truncated_normal(k, -0.5, 0.5, (1000,)))
    assert t.min() > -0.5 and t.max() < 0.5
    g = np.asarray(jr.gamma(k, np.full(4000, 2.5)))
    assert abs(g.mean() - 2.5) < 0.1 and abs(g.var() - 2.5) < 0.25
    p = np.asarray(jr.poisson(k, np.full(4000, 30.0)))
    assert abs(p.mean() - 30) < 0.5
    q = np.asarray(jr.orthogonal(k, 4, (2,)))
    np.testing.assert_allclose(q @ np.swapaxes(q, -1, -2), np.broadcast_to(np.eye(4), (2, 4, 4)),
                               atol=1e-13)
    perm = np.asarray(jr.permutation(k, 2000))  # two sort rounds above ~1600 elements
    np.testing.assert_array_equal(np.sort(perm), np.arange(2000))


def test_errors_name_the_fix():
    with pytest.raises(TypeError, match="vmap"):
        jr.split(jr.split(K0, 2))
    with pytest.raises(TypeError, match="PRNG key"):
        jr.uniform(np.array([0, 1]))
    with pytest.raises(TypeError, match="scalar seed"):
        jr.PRNGKey(np.arange(2))
    with pytest.raises(ValueError, match="larger sample"):
        jr.choice(K0, 3, (4,), replace=False)
    with pytest.raises(TypeError, match="integer dtypes"):
        jr.randint(K0, (2,), 0, 3, np.float64)
    with pytest.raises(ValueError, match="broadcast"):
        jr.uniform(K0, (3,), minval=np.zeros(2))


def test_numba_compiles_the_threefry_rounds(monkeypatch):
    # One small program (each threefry2x32 is ~100 lines of straight-line integer code for
    # Numba): the rounds in a fused loop, and the argsort of permutation.
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    from funcad.lowering.numba import stats

    def f(k):
        return jr.bits(k, (5,), np.uint32), jr.permutation(k, 8)
    def native():   # whole programs (Numba) and kernels (LLVM or Numba), built or loaded
        return sum(stats[k] for k in ("compiled", "disk_hits", "kernels_llvm",
                                      "kernels_compiled", "kernels_loaded"))
    before = native()
    out = fa.jit(f)(K42)
    assert native() > before
    _assert_matches(out[0], _reference("bits(k42,(5,),u32)"), True)
    _assert_matches(out[1], _reference("permutation(k42,8)"), True)
